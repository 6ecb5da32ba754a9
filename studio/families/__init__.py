"""The format-family registry: every module in this package that defines FAMILY is one (see `base.Family`).

A family is what a recipe's artifact is, how it is evaluated and what it is compared to. Recipes hold their
family object; rows store its name. Adding a format is a module here and its recipe module.
"""
from __future__ import annotations

import importlib
import pkgutil

from studio.families.base import BaseKey, Family

__all__ = ["BaseKey", "Family", "all_families", "checkpoint_family", "get"]

_families: dict[str, Family] | None = None


def _registry() -> dict[str, Family]:
    global _families
    if _families is None:
        found: dict[str, Family] = {}
        for info in pkgutil.iter_modules(__path__):
            family = getattr(importlib.import_module(f"{__name__}.{info.name}"), "FAMILY", None)
            if family is None:
                continue
            if family.name in found:
                raise ValueError(f"family name '{family.name}' registered twice ({info.name})")
            found[family.name] = family
        _families = found
    return _families


def get(name: str) -> Family:
    try:
        return _registry()[name]
    except KeyError:
        raise KeyError(f"unknown format family '{name}' (known: {', '.join(sorted(_registry()))})") from None


def all_families() -> list[Family]:
    return [_registry()[name] for name in sorted(_registry())]


def checkpoint_family() -> Family:
    """The family whose base is the user's checkpoint: every row's divergence from it puts all on one scale."""
    return next(f for f in all_families() if f.base_is_checkpoint)
