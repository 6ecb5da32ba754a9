"""Can a GGUF file and an HF checkpoint be compared token for token? Only when their vocabularies
are the same list: then logits of both are distributions over the same tokens, and one token
stream (the checkpoint's tokenization) can be fed to both."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path


def gguf_tokens(gguf: Path) -> list[str]:
    """The token strings of a GGUF file, as stored (llama.cpp's vocabulary-only load: no tensors read)."""
    import llama_cpp

    from studio.evaluation.llama_backend import vocabulary_only
    llm = vocabulary_only(gguf)  # held while its vocabulary is read: the pointer is the model's
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    tokens = [llama_cpp.llama_vocab_get_text(vocab, i).decode("utf-8", errors="replace")
              for i in range(llama_cpp.llama_vocab_n_tokens(vocab))]
    llm.close()
    return tokens


def vocabulary_mismatch(gguf: Path, checkpoint: Path, model_cache: Path) -> str | None:
    """None when the vocabularies are identical, else what differs. The verdict is kept in the
    model's cache under the GGUF vocabulary's hash: every GGUF quantized from one F16 carries the
    same vocabulary, so the checkpoint's tokenizer is read once per model, not once per job."""
    ours = gguf_tokens(gguf)
    verdict = model_cache / f"vocab-check-{hashlib.sha256(chr(0).join(ours).encode()).hexdigest()[:16]}.json"
    if verdict.exists():
        return json.loads(verdict.read_text())["mismatch"]
    mismatch = compare_with_checkpoint(ours, checkpoint)
    partial = verdict.with_suffix(".partial")
    partial.write_text(json.dumps({"mismatch": mismatch}))
    partial.replace(verdict)
    return mismatch


def compare_with_checkpoint(ours: list[str], checkpoint: Path) -> str | None:
    """None when the token strings are the checkpoint tokenizer's, in order; else the first difference."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(checkpoint), trust_remote_code=False)
    theirs = tok.convert_ids_to_tokens(list(range(len(tok))))
    if len(ours) != len(theirs):
        return f"vocabulary sizes differ: GGUF {len(ours)}, checkpoint {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return f"vocabularies differ at token id {i}: GGUF {a!r}, checkpoint {b!r}"
    return None
