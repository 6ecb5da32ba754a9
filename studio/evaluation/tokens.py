"""One token stream per (model, text, tokenizer family), cached, fed unchanged to every backend of
that family: llama.cpp's tokenizer for GGUF rows (as llama-perplexity tokenizes), the checkpoint's
own tokenizer for Hugging Face rows."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from studio.llamacpp import file_lock


def token_paths(model_cache: Path, text_sha: str, family: str = "gguf") -> tuple[Path, Path]:
    stem = f"tokens-{text_sha}" if family == "gguf" else f"tokens-{family}-{text_sha}"
    return model_cache / f"{stem}.npy", model_cache / f"{stem}.json"


def ensure_tokens(model_cache: Path, family: str, tokenizer_source: Path, text: str,
                  text_sha: str) -> tuple[Path, int | None]:
    if family == "gguf":
        from studio.evaluation.llama_backend import tokenize
    else:
        from studio.evaluation.torch_backend import tokenize
    ids_path, meta_path = token_paths(model_cache, text_sha, family)
    with file_lock(model_cache / "tokens.lock"):
        if not ids_path.exists():
            ids, bos = tokenize(tokenizer_source, text)
            tmp = ids_path.with_suffix(".partial.npy")
            np.save(tmp, ids)
            meta_path.write_text(json.dumps({"bos": bos, "n_tokens": int(ids.size)}))
            tmp.replace(ids_path)
    return ids_path, json.loads(meta_path.read_text())["bos"]
