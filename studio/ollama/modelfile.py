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
# An import's Modelfile is stored with its job; a real one (template, system prompt, parameters) is a few KiB.
MAX_BYTES = 64 * 1024


class ModelfileError(ValueError):
    """The Modelfile cannot be used for an import; the message says which line and why."""


@dataclass
class Modelfile:
    from_: str
    template: str | None = None
    system: str | None = None
    parameters: dict = field(default_factory=dict)


def check_size(n_bytes: int) -> None:
    if n_bytes > MAX_BYTES:
        raise ModelfileError(f"the Modelfile is {n_bytes / 1024:,.0f} KiB; an import takes at most "
                             f"{MAX_BYTES // 1024} KiB (a chat template, a system prompt and parameters fit in a few)")


def render(from_: str, setup: ChatSetup, header: list[str]) -> str:
    """The Modelfile for review. Its values come from the result row and the GGUF (a folder name, a chat
    template's default system prompt, token texts), so each is written such that it can neither start a
    line of its own nor close its quotes early, for the studio's `parse` and for Ollama's parser alike;
    a value that cannot be written exactly is left out, with a one-line comment saying why."""
    lines = [f"# {_one_line(line)}" for line in header]
    for warning in (*setup.warnings, *left_out(setup)):
        first, *more = warning.splitlines() or [""]  # at every break str.splitlines knows
        lines += [f"# WARNING: {_one_line(first)}", *(f"# {_one_line(line)}" for line in more)]
    lines.append(f"FROM {_from_value(from_)}")
    if setup.template is not None and _quotable(setup.template):
        lines.append(f'TEMPLATE """{setup.template}"""')
    else:
        lines.append('# TEMPLATE """…"""   <- write the chat template here (Go template syntax)')
    if setup.system and _quotable(setup.system):
        lines.append(f'SYSTEM """{setup.system}"""')
    lines += [f'PARAMETER stop "{stop}"' for stop in setup.stops if _plain(stop)]
    return "\n".join(lines) + "\n"


def left_out(setup: ChatSetup) -> tuple[str, ...]:
    """Why a value of `setup` is missing from the rendered Modelfile, one sentence each."""
    notes = [f"the {what} from the GGUF is left out: it contains triple quotes, ends with a quote or holds a "
             "control character other than newline and tab, which a Modelfile cannot hold exactly; "
             "write it yourself if it is needed"
             for what, value in (("TEMPLATE", setup.template), ("SYSTEM prompt", setup.system))
             if value and not _quotable(value)]
    notes += [f"the stop token {stop!r} from the GGUF is left out: it holds a quote, a backslash or a "
              "non-printing character, which a Modelfile cannot hold exactly" for stop in setup.stops
              if not _plain(stop)]
    return tuple(notes)


def _one_line(text: str) -> str:
    """Comment text on one line: whatever a parser could take for a line break (str.splitlines also breaks
    at \\r, \\v, \\f, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029) or might drop becomes a space."""
    return "".join(c if c.isprintable() else " " for c in text)


def _from_value(path: str) -> str:
    """FROM's value: one line, quoted where it holds a space (Ollama's parser ends a bare value there).
    A GGUF's name is the model's slug, which needs neither; a name changed here fails the import's
    FROM check instead of injecting anything."""
    value = _one_line(path).replace('"', "'")
    return f'"{value}"' if " " in value else value


def _quotable(value: str) -> bool:
    """Whether a triple-quoted block reads back as exactly `value`. Both parsers end the block at the first
    triple quote (a trailing quote of the value would merge into it); the studio's breaks lines wherever
    str.splitlines does, and Ollama's drops non-printing characters other than newline and tab."""
    return '"""' not in value and not value.endswith('"') and all(c.isprintable() or c in "\n\t" for c in value)


def _plain(stop: str) -> bool:
    """Whether `"stop"` reads back as exactly `stop`: Ollama's parser knows no escapes (a quote in the value
    would end it), and the studio's decodes the quoted value as JSON (a backslash would start an escape)."""
    return stop.isprintable() and '"' not in stop and "\\" not in stop


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
