"""Calibration text for GPTQ and AWQ: the shipped sample (disjoint from the built-in evaluation
text) or a user's file, cut into `samples` windows of `seq_len` tokens."""
from __future__ import annotations

from pathlib import Path

from studio.evaluation.texts import load_text
from studio.recipes.base import Option

CALIBRATION_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "calibration-sample.txt"

CALIBRATION_OPTIONS = (
    Option("calibration", "path", "builtin", "calibration text: 'builtin' (a WikiText-2 slice disjoint from "
           "the built-in evaluation sample) or the path of a UTF-8 file in the workspace", choices=("builtin",)),
    Option("samples", "int", 16, "number of calibration windows", minimum=1, maximum=4096),
    Option("seq_len", "int", 256, "tokens per calibration window", minimum=16, maximum=8192),
)


def calibration_path(value: str) -> Path:
    return CALIBRATION_SAMPLE if value == "builtin" else Path(value)


def calibration_problems(options: dict, settings) -> list[str]:
    from studio.evaluation.texts import TextError
    from studio.models import ModelError, confine
    path = calibration_path(options["calibration"])
    try:
        if path != CALIBRATION_SAMPLE:
            path = confine(path, (settings.workspace, *settings.model_dirs), "calibration text")
        text = load_text(path)
    except (TextError, ModelError) as exc:
        return [f"calibration: {exc}"]
    needed = options["samples"] * options["seq_len"]
    if len(text) < needed:  # a token spans at least one character
        return [f"calibration text has {len(text)} characters; {options['samples']} windows of "
                f"{options['seq_len']} tokens need more (lower samples or seq_len, or give a longer text)"]
    return []


def calibration_windows(tokenizer, path: Path, samples: int, seq_len: int) -> list[dict]:
    """Consecutive, non-overlapping windows from the start of the text; fewer if the text runs out."""
    import torch
    ids = tokenizer(load_text(path), return_tensors="pt").input_ids[0]
    n = min(samples, len(ids) // seq_len)
    if n == 0:
        raise ValueError(f"calibration text is shorter than one window of {seq_len} tokens")
    return [{"input_ids": ids[i * seq_len:(i + 1) * seq_len].unsqueeze(0),
             "attention_mask": torch.ones(1, seq_len, dtype=torch.long)} for i in range(n)]
