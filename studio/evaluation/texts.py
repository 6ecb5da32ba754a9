"""Evaluation texts: the built-in WikiText-2 sample or a user's file, validated before any job runs."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

BUILTIN_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "wikitext2-sample.txt"
MAX_TEXT_BYTES = 64 * 2**20
DEFAULT_PROMPTS = (
    "Explain in two sentences what quantization does to a neural network.",
    "Write a haiku about autumn.",
    "What is the capital of France, and what is it known for?",
)


# Every job generates from every prompt, twice (the result and its base): a few make the comparison.
MAX_PROMPTS = 8
# Above what any model's generation context holds, so the tokenizer, not this, says a prompt is too long;
# a bound on the work of counting its tokens at preflight.
MAX_PROMPT_CHARS = 64 * 1024


class TextError(ValueError):
    """An evaluation text the studio cannot use, with a message meant for the user."""


def _too_big(size: int) -> TextError:
    return TextError(f"evaluation text is {size / 2**20:.0f} MiB; the limit is "
                     f"{MAX_TEXT_BYTES // 2**20} MiB (perplexity needs a few hundred KB at most)")


def load_text(path: Path) -> str:
    try:
        if not path.is_file():
            raise TextError(f"evaluation text {path} does not exist")
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise _too_big(size)
        raw = path.read_bytes()
    except OSError as exc:  # unreadable, or a name longer than the file system allows
        raise TextError(f"evaluation text {str(path)[:200]} cannot be read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextError(f"evaluation text is not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})") from exc
    if not text.strip():
        raise TextError("evaluation text is empty")
    return text


def prompt_problems(prompts: list[str]) -> list[str]:
    """Reasons the sample prompts cannot be generated from, before their tokens are counted."""
    if len(prompts) > MAX_PROMPTS:
        return [f"{len(prompts)} sample prompts; the limit is {MAX_PROMPTS} (every job generates from each)"]
    problems = []
    for number, prompt in enumerate(prompts, 1):
        if len(prompt) > MAX_PROMPT_CHARS:
            problems.append(f"prompt {number} is {len(prompt):,} characters long; the limit is {MAX_PROMPT_CHARS:,}")
        elif (at := _lone_surrogate(prompt)) is not None:
            problems.append(f"prompt {number} is not valid Unicode text (a lone surrogate at character {at + 1}): "
                            "it cannot be encoded as UTF-8 for the tokenizer")
    return problems


def _lone_surrogate(text: str) -> int | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def text_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def store_upload(source: Path, uploads_dir: Path) -> Path:
    """Copy an uploaded text to uploads_dir under a name made from its hash, never from the user's file
    name. The size limit holds while copying; the final name appears only once the copy is whole (a
    rename), so a failed or concurrent upload never leaves a half file under it."""
    if not source.is_file():
        raise TextError("the uploaded file is gone; upload it again")
    if source.stat().st_size > MAX_TEXT_BYTES:
        raise _too_big(source.stat().st_size)
    tmp = tempfile.NamedTemporaryFile(dir=uploads_dir, prefix=".upload-", delete=False)
    try:
        with tmp, source.open("rb") as src:
            digest = _copy_capped(src, tmp)
        target = uploads_dir / f"text-{digest[:16]}.txt"
        os.replace(tmp.name, target)
        return target
    except OSError as exc:
        raise TextError(f"could not store the upload in {uploads_dir}: {exc.strerror or exc}") from exc
    finally:
        Path(tmp.name).unlink(missing_ok=True)


def _copy_capped(src, dst) -> str:
    """Copy src to dst, refusing more than MAX_TEXT_BYTES (a file can grow after its size was checked)."""
    digest, copied = hashlib.sha256(), 0
    while chunk := src.read(2**20):
        copied += len(chunk)
        if copied > MAX_TEXT_BYTES:
            raise _too_big(copied)
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest()
