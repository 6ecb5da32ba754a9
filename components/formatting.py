"""Small HTML helpers shared by the tabs (escaping, sizes, times)."""
from __future__ import annotations

import html


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def mib(n: int | None) -> str:
    return "—" if n is None else f"{n / 2**20:,.1f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def messages(kind: str, lines: list[str]) -> str:
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return f'<div class="qs-msg qs-{kind}"><ul>{items}</ul></div>'
