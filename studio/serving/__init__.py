"""Serving what the studio made: compressed-tensors exports of its own formats, and a check that a result loads and
scores the same in a serving engine (vLLM's CPU build, in an environment of its own)."""
