"""One token stream per (model, text, format family), cached, fed unchanged to every backend of that family:
llama.cpp's tokenizer for GGUF rows (as llama-perplexity tokenizes), the checkpoint's own tokenizer for
Hugging Face rows. The family names the stream and makes it; this module only caches it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from studio.llamacpp import file_lock


def cached_token_count(model_cache: Path, stem: str) -> int | None:
    """How many tokens the cached stream holds, when it is cached."""
    meta_path = model_cache / f"{stem}.json"
    return json.loads(meta_path.read_text()).get("n_tokens") if meta_path.exists() else None


def ensure_tokens(model_cache: Path, stem: str,
                  tokenize: Callable[[], tuple[np.ndarray, int | None]]) -> tuple[Path, int | None]:
    """The cached ids (`stem`.npy) and BOS (`stem`.json) of one text, made by `tokenize()` the first time."""
    ids_path, meta_path = model_cache / f"{stem}.npy", model_cache / f"{stem}.json"
    with file_lock(model_cache / "tokens.lock"):
        if not ids_path.exists():
            ids, bos = tokenize()
            tmp = ids_path.with_suffix(".partial.npy")
            np.save(tmp, ids)
            meta_path.write_text(json.dumps({"bos": bos, "n_tokens": int(ids.size)}))
            tmp.replace(ids_path)
    return ids_path, json.loads(meta_path.read_text())["bos"]
