"""One token stream per (model, text), cached, fed unchanged to every backend."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from studio.llamacpp import file_lock


def token_paths(model_cache: Path, text_sha: str) -> tuple[Path, Path]:
    return model_cache / f"tokens-{text_sha}.npy", model_cache / f"tokens-{text_sha}.json"


def ensure_tokens(model_cache: Path, base_gguf: Path, text: str, text_sha: str) -> tuple[Path, int | None]:
    """Tokenize with llama.cpp's tokenizer of the base GGUF (as llama-perplexity does)."""
    from studio.evaluation.llama_backend import tokenize

    ids_path, meta_path = token_paths(model_cache, text_sha)
    with file_lock(model_cache / "tokens.lock"):
        if not ids_path.exists():
            ids, bos = tokenize(base_gguf, text)
            tmp = ids_path.with_suffix(".partial.npy")
            np.save(tmp, ids)
            meta_path.write_text(json.dumps({"bos": bos, "n_tokens": int(ids.size)}))
            tmp.replace(ids_path)
    return ids_path, json.loads(meta_path.read_text())["bos"]
