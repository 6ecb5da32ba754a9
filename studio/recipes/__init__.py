"""The recipe registry: every module in this package that defines RECIPE is a quantization method
(modules without one, like `formats` and `hf`, are helpers the recipes share).

Modules are discovered by walking the package, so adding a method touches one file. A module that
fails to import (an optional package missing) is still listed, unavailable, with the error as reason.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from studio.recipes.base import OptionError, Recipe

_SKIP = {"base"}


@dataclass(frozen=True)
class RegistryEntry:
    module: str
    recipe: Recipe | None
    import_error: str | None


_entries: dict[str, RegistryEntry] | None = None


def entries() -> dict[str, RegistryEntry]:
    global _entries
    if _entries is None:
        found: dict[str, RegistryEntry] = {}
        for info in pkgutil.iter_modules(__path__):
            if info.name in _SKIP or info.name.startswith("_"):
                continue
            module_name = f"{__name__}.{info.name}"
            try:
                recipe = getattr(importlib.import_module(module_name), "RECIPE", None)
            except Exception as exc:  # a broken method must not break the others
                found[info.name] = RegistryEntry(module_name, None, f"{type(exc).__name__}: {exc}")
                continue
            if recipe is None:
                continue
            if not isinstance(recipe, Recipe):
                raise TypeError(f"{module_name}.RECIPE is not a Recipe")
            if recipe.name in found:
                raise ValueError(f"recipe name '{recipe.name}' registered twice ({module_name})")
            found[recipe.name] = RegistryEntry(module_name, recipe, None)
        _entries = found
    return _entries


def get(name: str) -> Recipe:
    entry = entries().get(name)
    if entry is None:
        raise OptionError(f"unknown recipe '{name}' (known: {', '.join(sorted(entries()))})")
    if entry.recipe is None:
        raise OptionError(f"recipe '{name}' cannot load here: {entry.import_error}")
    return entry.recipe


def parse_recipe_spec(spec: str, overrides: dict[str, str] | None = None) -> tuple[Recipe, dict]:
    """'gguf:Q4_K_M' plus {'gguf.key': value} -> (recipe, validated options)."""
    name, _, variant = spec.strip().partition(":")
    recipe = get(name)
    mine = {k.split(".", 1)[1]: v for k, v in (overrides or {}).items() if k.split(".", 1)[0] == name}
    return recipe, recipe.resolve_options(variant or None, mine)
