"""From a GGUF's Jinja chat template to an Ollama TEMPLATE (Go template), SYSTEM and stop tokens.

Ollama runs the Go template, not the Jinja one: a GGUF imported without the right TEMPLATE gets
`{{ .Prompt }}` and answers with gibberish. Each known family below is the Go equivalent of its Jinja
format. Whatever family is detected, the result is checked by rendering probe conversations both ways
(transformers' Jinja renderer vs Ollama's prompt building) and any difference becomes a warning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from studio.ollama.gguf_chat import ChatMetadata
from studio.ollama.gotemplate import GoTemplateError, chat_prompt


@dataclass(frozen=True)
class Family:
    name: str
    markers: tuple[str, ...]  # all present in the Jinja template -> this family
    template: str  # Go template; "{EOS}" stands for the vocabulary's end-of-sequence text
    stops: tuple[str, ...]
    system_turn: str | None = None  # how a system message renders, "{}" for its text; None: no system role


FAMILIES = (
    Family("llama3", ("<|start_header_id|>",),
           "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n"
           "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
           ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
           "<|start_header_id|>system<|end_header_id|>\n\n{}<|eot_id|>"),
    Family("chatml", ("<|im_start|>",),
           "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
           ("<|im_start|>", "<|im_end|>"), "<|im_start|>system\n{}<|im_end|>\n"),
    Family("gemma", ("<start_of_turn>",),
           '{{- range .Messages }}<start_of_turn>{{ if eq .Role "assistant" }}model{{ else }}{{ .Role }}{{ end }}\n'
           "{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n",
           ("<start_of_turn>", "<end_of_turn>")),
    Family("phi3", ("<|user|>", "<|end|>"),
           "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
           ("<|end|>", "<|user|>", "<|assistant|>"), "<|system|>\n{}<|end|>\n"),
    Family("mistral", ("[INST]",),
           '{{- range .Messages }}\n{{- if eq .Role "user" }}[INST] {{ .Content }} [/INST]\n'
           '{{- else if eq .Role "assistant" }}{{ .Content }}{EOS}\n{{- end }}\n{{- end }}',
           ("[INST]", "[/INST]")),
)
UNSUPPORTED_MARKERS = {"<<SYS>>": "Llama-2 ([INST] with <<SYS>>)"}
PROBE_TURNS = ({"role": "user", "content": "Hello! Who are you?"},
               {"role": "assistant", "content": "I am a helpful assistant."},
               {"role": "user", "content": "What is 2 + 2?"})
PROBE_SYSTEM = {"role": "system", "content": "You answer briefly."}


@dataclass(frozen=True)
class ChatSetup:
    family: str | None  # None: unknown, the user writes the TEMPLATE
    template: str | None
    system: str | None  # the Jinja template's default system prompt, if it has one
    stops: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


def detect_family(chat_template: str | None) -> Family | None:
    if not chat_template:
        return None
    if any(marker in chat_template for marker in UNSUPPORTED_MARKERS):
        return None
    return next((f for f in FAMILIES if all(m in chat_template for m in f.markers)), None)


def render_jinja(chat_template: str, messages: list[dict], meta: ChatMetadata) -> str:
    """The GGUF's Jinja template rendered by transformers, as `apply_chat_template` would."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(conversations=[messages], chat_template=chat_template,
                                        add_generation_prompt=True, bos_token=meta.bos_token or "",
                                        eos_token=meta.eos_token or "")
    return rendered[0]


def runtime_text(jinja_text: str, meta: ChatMetadata) -> str:
    """Jinja output as Ollama's template must produce it: the tokenizer adds BOS itself."""
    if meta.add_bos and meta.bos_token and jinja_text.startswith(meta.bos_token):
        return jinja_text[len(meta.bos_token):]
    return jinja_text


def chat_setup(meta: ChatMetadata) -> ChatSetup:
    family = detect_family(meta.chat_template)
    if family is None:
        return ChatSetup(None, None, None, _stops((), meta), (_unknown_reason(meta.chat_template),))
    template = family.template.replace("{EOS}", meta.eos_token or "")
    system = default_system(family, template, meta)
    warnings = tuple(check_against_jinja(template, system, meta))
    return ChatSetup(family.name, template, system, _stops(family.stops, meta), warnings)


def _unknown_reason(chat_template: str | None) -> str:
    if not chat_template:
        return ("the GGUF carries no tokenizer.chat_template: write the TEMPLATE (a Go template) yourself, "
                "or the model will get raw text and answer poorly")
    for marker, name in UNSUPPORTED_MARKERS.items():
        if marker in chat_template:
            return f"the chat template is {name}, which the studio does not generate: write the TEMPLATE yourself"
    return ("the chat template is not one the studio knows (ChatML/SmolLM/Qwen, Llama-3, Mistral, Gemma, Phi-3): "
            "write the TEMPLATE (a Go template) yourself")


def _stops(family_stops: tuple[str, ...], meta: ChatMetadata) -> tuple[str, ...]:
    extra = (t for t in (meta.eot_token, meta.eos_token) if t and t.startswith("<") and t.endswith(">"))
    return tuple(dict.fromkeys((*family_stops, *extra)))


def default_system(family: Family, template: str, meta: ChatMetadata) -> str | None:
    """The system prompt the Jinja template inserts when the chat has none (SmolLM2, Qwen2 do)."""
    if family.system_turn is None:
        return None
    try:
        jinja_text = runtime_text(render_jinja(meta.chat_template, [PROBE_TURNS[0]], meta), meta)
    except Exception:
        return None
    before, after = family.system_turn.split("{}")
    if not jinja_text.startswith(before):
        return None
    end = jinja_text.find(after, len(before))
    return jinja_text[len(before):end] if end > 0 else None


def check_against_jinja(template: str, system: str | None, meta: ChatMetadata) -> list[str]:
    """Render probe chats with the Jinja template and with the Go one; report every difference."""
    warnings = []
    for messages in (list(PROBE_TURNS), [PROBE_SYSTEM, *PROBE_TURNS]):
        try:
            expected = runtime_text(render_jinja(meta.chat_template, messages, meta), meta)
        except Exception:
            continue  # the Jinja template refuses this chat (e.g. no system role): nothing to compare
        try:
            got = chat_prompt(template, messages, system or "")
        except GoTemplateError as exc:
            return [f"the TEMPLATE does not parse: {exc}"]
        if got != expected:
            warnings.append(f"the TEMPLATE renders a {len(messages)}-message chat differently from the GGUF's "
                            f"Jinja chat template:\n  Jinja: {expected!r}\n  Go:    {got!r}")
    return warnings
