"""Can a GGUF file and an HF checkpoint be compared token for token? Only when their vocabularies
are the same list: then logits of both are distributions over the same tokens, and one token
stream (the checkpoint's tokenization) can be fed to both."""
from __future__ import annotations

from pathlib import Path


def gguf_tokens(gguf: Path) -> list[str]:
    from gguf import GGUFReader
    field = GGUFReader(str(gguf)).fields["tokenizer.ggml.tokens"]
    return [bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data]


def vocabulary_mismatch(gguf: Path, checkpoint: Path) -> str | None:
    """None when the vocabularies are identical, else what differs."""
    from transformers import AutoTokenizer
    ours = gguf_tokens(gguf)
    tok = AutoTokenizer.from_pretrained(str(checkpoint), trust_remote_code=False)
    theirs = tok.convert_ids_to_tokens(list(range(len(tok))))
    if len(ours) != len(theirs):
        return f"vocabulary sizes differ: GGUF {len(ours)}, checkpoint {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return f"vocabularies differ at token id {i}: GGUF {a!r}, checkpoint {b!r}"
    return None
