"""What a GGUF says about chatting with it: its Jinja chat template and its special tokens."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gguf import GGUFReader, GGUFValueType, LlamaFileType


@dataclass(frozen=True)
class ChatMetadata:
    architecture: str
    file_type: str  # e.g. "Q4_K_M", as Ollama's `show` calls the quantization level
    chat_template: str | None
    bos_token: str | None
    eos_token: str | None
    eot_token: str | None  # end of turn, where the vocabulary names one apart from EOS
    add_bos: bool


def _scalar(reader: GGUFReader, key: str):
    field = reader.fields.get(key)
    if field is None:
        return None
    value = field.parts[field.data[0]]
    if field.types[0] == GGUFValueType.STRING:
        return bytes(value).decode("utf-8")
    return value.item() if hasattr(value, "item") else value[0]


def _token_text(reader: GGUFReader, key: str) -> str | None:
    token_id = _scalar(reader, key)
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if token_id is None or tokens is None or token_id >= len(tokens.data):
        return None
    return bytes(tokens.parts[tokens.data[token_id]]).decode("utf-8", errors="replace")


def _file_type(reader: GGUFReader) -> str:
    value = _scalar(reader, "general.file_type")
    if value is None:
        return "unknown"
    try:
        return LlamaFileType(value).name.removeprefix("MOSTLY_")
    except ValueError:
        return f"file type {value}"


def read_chat_metadata(path: Path) -> ChatMetadata:
    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as exc:  # numpy's reshape/memmap errors on a cut-off file
        raise ValueError(f"{path} is a truncated or corrupt GGUF file ({exc})") from exc
    add_bos = _scalar(reader, "tokenizer.ggml.add_bos_token")
    return ChatMetadata(
        architecture=_scalar(reader, "general.architecture") or "unknown",
        file_type=_file_type(reader),
        chat_template=_scalar(reader, "tokenizer.chat_template"),
        bos_token=_token_text(reader, "tokenizer.ggml.bos_token_id"),
        eos_token=_token_text(reader, "tokenizer.ggml.eos_token_id"),
        eot_token=_token_text(reader, "tokenizer.ggml.eot_token_id"),
        # llama.cpp's default when the key is missing: add BOS (SPM/BPE vocabularies)
        add_bos=True if add_bos is None else bool(add_bos),
    )
