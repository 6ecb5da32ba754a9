"""Ollama's model-name rules (types/model/name.go), checked before anything is uploaded.

A name is [host/][namespace/]model[:tag]. Each part starts with a letter, digit or underscore and
continues with letters, digits, `_`, `-` and `.` (no `.` in a namespace; a host may also hold `:`).
Model, namespace and tag are at most 80 characters, the host 350. Missing parts default to
registry.ollama.ai/library/…:latest, which is how the server stores the name.
"""
from __future__ import annotations

import re


class InvalidModelName(ValueError):
    pass


_PART = {
    "host": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*"), 350),
    "namespace": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*"), 80),
    "model": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*"), 80),
    "tag": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*"), 80),
}
# host, namespace, model and tag at their longest, with their separators.
MAX_NAME_CHARS = sum(limit for _, limit in _PART.values()) + 3
RULE = ("letters, digits, '_', '-' and '.', starting with a letter, digit or '_' "
        "(e.g. smollm2-135m:q4_k_m or myname/smollm2:latest)")


def split_name(name: str) -> dict[str, str]:
    parts = {"host": "", "namespace": "", "model": "", "tag": ""}
    rest = name
    if rest.rfind(":") > rest.rfind("/"):
        rest, parts["tag"] = rest.rsplit(":", 1)
    pieces = rest.split("/")
    if len(pieces) > 3:
        raise InvalidModelName(f"invalid model name {name!r}: at most host/namespace/model:tag")
    parts["model"] = pieces[-1]
    if len(pieces) >= 2:
        parts["namespace"] = pieces[-2]
    if len(pieces) == 3:
        parts["host"] = pieces[0].split("://", 1)[-1]
    return parts


def validate_model_name(name: str) -> str:
    """The name as given (trimmed) if Ollama would accept it; else InvalidModelName saying why."""
    name = (name or "").strip()
    if not name:
        raise InvalidModelName("enter a model name, e.g. smollm2-135m:q4_k_m")
    if name.endswith(":") or "//" in name.split("://", 1)[-1] or name.startswith("/") or name.endswith("/"):
        raise InvalidModelName(f"invalid model name {name!r}: a part before or after ':' or '/' is empty")
    for kind, value in split_name(name).items():
        if not value:
            continue
        pattern, limit = _PART[kind]
        if len(value) > limit:
            raise InvalidModelName(f"invalid model name {name!r}: the {kind} is longer than {limit} characters")
        if not pattern.fullmatch(value):
            allowed = RULE.replace(", '-' and '.'", " and '-'") if kind == "namespace" else RULE
            raise InvalidModelName(f"invalid model name {name!r}: the {kind} {value!r} may only hold {allowed}")
    return name


def canonical(name: str) -> str:
    """How the server keys a name: lower-case, with the default host, namespace and tag filled in."""
    parts = split_name(name)
    return (f"{parts['host'] or 'registry.ollama.ai'}/{parts['namespace'] or 'library'}/"
            f"{parts['model']}:{parts['tag'] or 'latest'}").lower()
