"""The part of Go's text/template that chat templates use, and Ollama's way of feeding it a chat.

The studio never needs Go to import a model; it needs this to preview the prompt a TEMPLATE makes
(and to reject a TEMPLATE that would not parse before uploading anything), and the test stand-in
needs it to answer /api/chat with the template it was given. Supported: text with `{{- -}}` trim
markers, comments, fields (`.Role`, `$.Messages`, `$m.Content`), string/number/bool literals,
variables (`$x := …`, `$i, $m := range …`), `if`/`else if`/`else`, `range`/`else`, and the
functions eq, ne, lt, le, gt, ge, and, or, not, len, index, slice. Anything else is a clear error.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_WHITESPACE = " \t\r\n"
_TOKEN = re.compile(r'''\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)'''
                    r'''|(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)'''
                    r'''|(?P<op>:=|=|\(|\)|,|\|)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))''')


class GoTemplateError(ValueError):
    """The template does not parse, or uses something this subset does not implement."""


# -- parsing ---------------------------------------------------------------------------------
@dataclass
class Node:
    kind: str  # text | action | if | range
    text: str = ""
    pipe: list = field(default_factory=list)  # tokens of the action / condition
    body: list = field(default_factory=list)
    orelse: list = field(default_factory=list)
    decl: tuple = ()  # variables declared by `range $i, $m :=` or `$x :=`


def _split(source: str) -> list[tuple[str, str]]:
    """[("text", s) | ("action", s)] with trim markers applied to the neighbouring text."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = source.find("{{", pos)
        if start < 0:
            pieces.append(("text", source[pos:]))
            return pieces
        text = source[pos:start]
        inner_start = start + 2
        after_dash = source[inner_start + 1:inner_start + 2]
        if source.startswith("-", inner_start) and after_dash and after_dash in _WHITESPACE:
            text = text.rstrip(_WHITESPACE)  # "{{- " trims the text before it
            inner_start += 1
        end = source.find("}}", inner_start)
        if end < 0:
            raise GoTemplateError(f"unclosed action starting at offset {start}")
        inner, pos = source[inner_start:end], end + 2
        if len(inner) >= 2 and inner[-1] == "-" and inner[-2] in _WHITESPACE:  # " -}}" trims the text after it
            inner = inner[:-1]
            while pos < len(source) and source[pos] in _WHITESPACE:
                pos += 1
        pieces.append(("text", text))
        pieces.append(("action", inner.strip()))


def _tokens(action: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(action):
        if action[pos:].strip() == "":
            break
        m = _TOKEN.match(action, pos)
        if not m or m.end() == pos:
            raise GoTemplateError(f"cannot parse {action[pos:]!r} in {{{{ {action} }}}}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse(source: str) -> list[Node]:
    return _parse_list(_split(source), 0, top=True)[0]


def _parse_list(pieces, i: int, top: bool = False) -> tuple[list[Node], int]:
    """Nodes until a closing `end`/`else` (returned at pieces[i]) or the end of the template."""
    nodes: list[Node] = []
    while i < len(pieces):
        kind, text = pieces[i]
        if kind == "text":
            if text:
                nodes.append(Node("text", text=text))
            i += 1
            continue
        if text.startswith("/*"):
            if not text.endswith("*/"):
                raise GoTemplateError(f"unclosed comment: {{{{{text}}}}}")
            i += 1
            continue
        word = text.split(None, 1)[0] if text else ""
        if word in ("end", "else"):
            if top:
                raise GoTemplateError(f"unexpected {{{{{text}}}}}")
            return nodes, i
        if word == "if":
            node, i = _parse_if(pieces, i, text[2:].strip())
        elif word == "range":
            node, i = _parse_range(pieces, i, text[5:].strip())
        elif word in ("with", "template", "define", "block", "break", "continue"):
            raise GoTemplateError(f"{{{{ {word} }}}} is not supported by the studio's template checker")
        else:
            node, i = _parse_action(text), i + 1
        nodes.append(node)
    if not top:
        raise GoTemplateError("missing {{ end }}")
    return nodes, i


def _parse_action(text: str) -> Node:
    toks = _tokens(text)
    if len(toks) >= 2 and toks[0][0] == "var" and toks[1] in (("op", ":="), ("op", "=")):
        return Node("action", pipe=toks[2:], decl=(toks[0][1],))
    return Node("action", pipe=toks)


def _parse_if(pieces, i: int, cond: str) -> tuple[Node, int]:
    node = Node("if", pipe=_tokens(cond))
    node.body, i = _parse_list(pieces, i + 1)
    closing = pieces[i][1]
    if closing == "else":
        node.orelse, i = _parse_list(pieces, i + 1)
        return node, _expect_end(pieces, i)
    if closing.startswith("else if"):
        nested, i = _parse_if(pieces, i, closing[len("else if"):].strip())
        node.orelse = [nested]
        return node, i  # the nested if consumed the shared {{ end }}
    return node, _expect_end(pieces, i)


def _parse_range(pieces, i: int, spec: str) -> tuple[Node, int]:
    toks = _tokens(spec)
    decl: tuple = ()
    if ("op", ":=") in toks:
        at = toks.index(("op", ":="))
        decl = tuple(v for k, v in toks[:at] if k == "var")
        toks = toks[at + 1:]
    node = Node("range", pipe=toks, decl=decl)
    node.body, i = _parse_list(pieces, i + 1)
    if pieces[i][1] == "else":
        node.orelse, i = _parse_list(pieces, i + 1)
    return node, _expect_end(pieces, i)


def _expect_end(pieces, i: int) -> int:
    if i >= len(pieces) or pieces[i][1] != "end":
        raise GoTemplateError("missing {{ end }}")
    return i + 1


# -- execution -------------------------------------------------------------------------------
def truthy(value) -> bool:
    return not (value is None or value is False or value == 0 or value == "" or
                (hasattr(value, "__len__") and len(value) == 0))


def _text(value) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field(value, name: str):
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _eq(a, *others):
    return any(a == b for b in others)


def _slice(seq, *bounds):
    return seq[bounds[0]:bounds[1]] if len(bounds) == 2 else seq[bounds[0]:] if bounds else seq


FUNCTIONS = {
    "eq": _eq, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "not": lambda a: not truthy(a),
    "len": len, "index": lambda seq, *keys: _index(seq, keys), "slice": _slice,
}


def _index(seq, keys):
    for k in keys:
        seq = seq[k]
    return seq


class _Scope:
    def __init__(self, root):
        self.vars = [{"$": root}]

    def get(self, name: str):
        for frame in reversed(self.vars):
            if name in frame:
                return frame[name]
        raise GoTemplateError(f"undefined variable {name}")

    def set(self, name: str, value) -> None:
        self.vars[-1][name] = value


def _eval_pipe(toks: list, dot, scope: _Scope):
    """Evaluate `f arg arg…` or a single operand; `and`/`or` short-circuit as in Go 1.18+."""
    if not toks:
        raise GoTemplateError("empty pipeline")
    if ("op", "|") in toks:
        raise GoTemplateError("pipes (|) are not supported by the studio's template checker")
    groups = _operands(toks)
    head = groups[0]
    if len(head) == 1 and head[0][0] == "ident":
        name = head[0][1]
        args = groups[1:]
        if name in ("and", "or"):
            value = None
            for arg in args:
                value = _eval_operand(arg, dot, scope)
                if truthy(value) != (name == "and"):
                    return value
            return value
        if name in ("true", "false"):
            return name == "true"
        if name not in FUNCTIONS:
            raise GoTemplateError(f'function "{name}" not defined')
        return FUNCTIONS[name](*(_eval_operand(a, dot, scope) for a in args))
    if len(groups) > 1:
        raise GoTemplateError("can't give argument to non-function")
    return _eval_operand(head, dot, scope)


def _operands(toks: list) -> list[list]:
    """Split tokens into operands; a parenthesised group is one operand."""
    out, depth, current = [], 0, []
    for tok in toks:
        if tok == ("op", "("):
            depth += 1
            if depth == 1:
                current = [tok]
                continue
        if tok == ("op", ")"):
            depth -= 1
            if depth < 0:
                raise GoTemplateError("unbalanced )")
            if depth == 0:
                current.append(tok)
                out.append(current)
                current = []
                continue
        if depth:
            current.append(tok)
        else:
            out.append([tok])
    if depth:
        raise GoTemplateError("unclosed (")
    return out


def _eval_operand(group: list, dot, scope: _Scope):
    if group[0] == ("op", "("):
        return _eval_pipe(group[1:-1], dot, scope)
    kind, value = group[0]
    if kind == "str":
        return json.loads(value)  # Go's escapes in double quotes are JSON's
    if kind == "raw":
        return value[1:-1]
    if kind == "num":
        return float(value) if "." in value else int(value)
    if kind == "field":
        return _walk(dot, value)
    if kind == "var":
        name, _, path = value.partition(".")
        return _walk(scope.get(name), "." + path if path else ".")
    if kind == "ident":
        if value in ("true", "false"):
            return value == "true"
        if value == "nil":
            return None
        return _eval_pipe(group, dot, scope)
    raise GoTemplateError(f"unexpected {value!r}")


def _walk(value, path: str):
    for name in filter(None, path.split(".")):
        value = _field(value, name)
    return value


def _execute(nodes: list[Node], dot, scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.text)
        elif node.kind == "action":
            value = _eval_pipe(node.pipe, dot, scope)
            if node.decl:
                scope.set(node.decl[0], value)
            else:
                out.append(_text(value))
        elif node.kind == "if":
            branch = node.body if truthy(_eval_pipe(node.pipe, dot, scope)) else node.orelse
            _execute(branch, dot, scope, out)
        elif node.kind == "range":
            items = _eval_pipe(node.pipe, dot, scope) or []
            if not items:
                _execute(node.orelse, dot, scope, out)
            for index, item in enumerate(items):
                scope.vars.append({})
                if len(node.decl) == 2:
                    scope.set(node.decl[0], index)
                    scope.set(node.decl[1], item)
                elif node.decl:
                    scope.set(node.decl[0], item)
                _execute(node.body, item, scope, out)
                scope.vars.pop()


def render(source: str, data: dict) -> str:
    out: list[str] = []
    _execute(parse(source), data, _Scope(data), out)
    return "".join(out)


def collate(messages: list[dict]) -> tuple[str, list[dict]]:
    """Ollama's template.collate: merge consecutive same-role messages; join every system message."""
    system, collated = [], []
    for m in messages:
        if m["role"] == "system":
            system.append(m["content"])
        if collated and collated[-1]["Role"] == m["role"] and m["role"] != "tool":
            collated[-1]["Content"] += "\n\n" + m["content"]
        else:
            collated.append({"Role": m["role"], "Content": m["content"]})
    return "\n\n".join(system), collated


def chat_prompt(template: str, messages: list[dict], system: str = "") -> str:
    """The prompt Ollama builds for /api/chat: the model's SYSTEM first unless the chat brings its own."""
    if system and (not messages or messages[0]["role"] != "system"):
        messages = [{"role": "system", "content": system}, *messages]
    joined_system, collated = collate(messages)
    return render(template, {"System": joined_system, "Messages": collated, "Tools": None, "Response": "",
                             "Prompt": ""})
