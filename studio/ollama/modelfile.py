"""Modelfiles: written for review (and for `ollama create NAME -f Modelfile` by hand), read back for import.

The text the user reviews is the text the import uses: the job parses it into the create request's
`template`, `system` and `parameters`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from studio.ollama.templates import ChatSetup

INT_PARAMETERS = {"num_ctx", "num_predict", "num_keep", "top_k", "seed", "repeat_last_n", "num_batch", "num_gpu",
                  "num_thread", "main_gpu"}
FLOAT_PARAMETERS = {"temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty",
                    "frequency_penalty"}
BOOL_PARAMETERS = {"use_mmap", "numa", "penalize_newline"}
LIST_PARAMETERS = {"stop"}


class ModelfileError(ValueError):
    """The Modelfile cannot be used for an import; the message says which line and why."""


@dataclass
class Modelfile:
    from_: str
    template: str | None = None
    system: str | None = None
    parameters: dict = field(default_factory=dict)


def render(from_: str, setup: ChatSetup, header: list[str]) -> str:
    lines = [f"# {line}" for line in header]
    lines += [f"# WARNING: {w}".replace("\n", "\n# ") for w in setup.warnings]
    lines.append(f"FROM {from_}")
    if setup.template is not None:
        lines.append(f'TEMPLATE """{setup.template}"""')
    else:
        lines.append('# TEMPLATE """…"""   <- write the chat template here (Go template syntax)')
    if setup.system:
        lines.append(f'SYSTEM """{setup.system}"""')
    lines += [f"PARAMETER stop {json.dumps(stop, ensure_ascii=False)}" for stop in setup.stops]
    return "\n".join(lines) + "\n"


def parse(text: str) -> Modelfile:
    commands = list(_commands(text))
    sources = [value for name, value, _ in commands if name == "FROM"]
    if len(sources) != 1:
        raise ModelfileError("the Modelfile needs exactly one FROM line")
    result = Modelfile(from_=sources[0])
    for name, value, line in commands:
        if name == "TEMPLATE":
            result.template = value
        elif name == "SYSTEM":
            result.system = value
        elif name == "PARAMETER":
            key, _, raw = value.partition(" ")
            _add_parameter(result.parameters, key.strip(), _value(raw.strip(), line), line)
        elif name != "FROM":
            raise ModelfileError(f"line {line}: {name} is not supported by the studio's import "
                                 "(FROM, TEMPLATE, SYSTEM and PARAMETER are)")
    return result


def _add_parameter(parameters: dict, key: str, raw: str, line: int) -> None:
    try:
        if key in LIST_PARAMETERS:
            parameters.setdefault(key, []).append(raw)
        elif key in INT_PARAMETERS:
            parameters[key] = int(raw)
        elif key in FLOAT_PARAMETERS:
            parameters[key] = float(raw)
        elif key in BOOL_PARAMETERS:
            parameters[key] = {"true": True, "false": False}[raw.lower()]
        else:
            known = ", ".join(sorted(LIST_PARAMETERS | INT_PARAMETERS | FLOAT_PARAMETERS | BOOL_PARAMETERS))
            raise ModelfileError(f"line {line}: unknown PARAMETER {key!r} (known: {known})")
    except (ValueError, KeyError) as exc:
        if isinstance(exc, ModelfileError):
            raise
        raise ModelfileError(f"line {line}: PARAMETER {key} has an invalid value {raw!r}") from None


def _commands(text: str):
    """(COMMAND, value, line number) for each command; values may be \"\"\"multi-line\"\"\" or "quoted"."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        number = i + 1
        i += 1
        if not stripped or stripped.startswith("#"):
            continue
        name, _, rest = stripped.partition(" ")
        name, rest = name.upper(), rest.strip()
        if name == "PARAMETER":
            yield name, rest, number
            continue
        if rest.startswith('"""'):
            body = lines[i - 1].split('"""', 1)[1]
            while '"""' not in body:
                if i >= len(lines):
                    raise ModelfileError(f'line {number}: {name} """ is never closed')
                body += "\n" + lines[i]
                i += 1
            body, _, tail = body.partition('"""')
            if tail.strip():
                raise ModelfileError(f'line {number}: text after the closing """ of {name}')
            yield name, body, number
        else:
            yield name, _value(rest, number), number


def _value(raw: str, line: int) -> str:
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ModelfileError(f"line {line}: cannot read the quoted value {raw}") from None
    return raw
