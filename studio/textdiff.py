"""Word-level differences between a generation and its base's, for highlighting."""
from __future__ import annotations

import difflib
import re


def word_diff(base: str, other: str) -> list[tuple[str, str]]:
    """(kind, text) segments of `other`: "same", "added" (not in the base), and "removed" (in the
    base, gone here). Whitespace stays attached to the words, so the segments rejoin to the texts."""
    a, b = re.findall(r"\S+\s*", base), re.findall(r"\S+\s*", other)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=[w.strip() for w in a], b=[w.strip() for w in b],
                                                      autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            out.append(("removed", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("added", "".join(b[j1:j2])))
    return out
