"""Evaluation texts: the built-in WikiText-2 sample or a user's file, validated before any job runs."""
from __future__ import annotations

import hashlib
from pathlib import Path

BUILTIN_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "wikitext2-sample.txt"
MAX_TEXT_BYTES = 64 * 2**20
DEFAULT_PROMPTS = (
    "Explain in two sentences what quantization does to a neural network.",
    "Write a haiku about autumn.",
    "What is the capital of France, and what is it known for?",
)


class TextError(ValueError):
    """An evaluation text the studio cannot use, with a message meant for the user."""


def load_text(path: Path) -> str:
    if not path.is_file():
        raise TextError(f"evaluation text {path} does not exist")
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise TextError(f"evaluation text is {size / 2**20:.0f} MiB; the limit is "
                        f"{MAX_TEXT_BYTES // 2**20} MiB (perplexity needs a few hundred KB at most)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextError(f"evaluation text is not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})") from exc
    if not text.strip():
        raise TextError("evaluation text is empty")
    return text


def text_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
