"""Model facts: where a checkpoint lives, what it is, and whether the studio may touch it.

Reads only config.json and safetensors headers, so it is cheap enough for preflight.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from studio.architecture import Architecture
from studio.config import Settings

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Architecture class names of models that generate text (LlamaForCausalLM, GPT2LMHeadModel).
CAUSAL_LM_SUFFIXES = ("ForCausalLM", "LMHeadModel")


class ModelError(ValueError):
    """A model the studio cannot use, with a message meant for the user."""


@dataclass(frozen=True)
class ModelFacts:
    path: Path
    key: str  # fingerprint: changes when the checkpoint's files change
    architecture: str
    model_type: str
    n_params: int
    hidden_size: int | None
    vocab_size: int | None
    weight_bytes: int
    has_chat_template: bool
    context_length: int | None = None  # max_position_embeddings: the longest sequence the model is made for
    intermediate_size: int | None = None  # the MLP's width: its projections are the largest linear layers
    shape: Architecture | None = None  # the tensors the config describes (sizes of every format are counted on it)

    @property
    def tokenizer_file(self) -> Path | None:
        """The checkpoint's tokenizer.json (None for facts made up from a shape, which have no key)."""
        return self.path / "tokenizer.json" if self.key else None

    @property
    def slug(self) -> str:
        return re.sub(r"[^\w.-]+", "-", self.path.name).strip("-") or "model"


def is_within(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def confine(path: Path, roots: tuple[Path, ...], what: str) -> Path:
    """Resolve `path` (following symlinks) and refuse it outside the allowed roots."""
    resolved = path.expanduser().resolve()
    if not is_within(resolved, roots):
        listed = ", ".join(str(r) for r in roots)
        shown = str(resolved) if resolved == path.expanduser().absolute() else f"{path} (→ {resolved})"
        raise ModelError(f"{what} {shown} is outside the allowed folders ({listed}); "
                         "add its parent folder to STUDIO_MODEL_DIRS to allow it")
    return resolved


def confine_files(folder: Path, roots: tuple[Path, ...]) -> None:
    """Every file in a checkpoint folder, followed through its symlinks, must stay inside the allowed
    roots too: an allowed folder may still hold a link to a file elsewhere (the HF cache's own links
    stay inside it)."""
    for entry in folder.rglob("*"):
        if entry.is_symlink() and not is_within(entry.resolve(), roots):
            raise ModelError(f"{folder.name}/{entry.relative_to(folder)} links to {entry.resolve()}, outside the "
                             f"allowed folders ({', '.join(str(r) for r in roots)}); copy the file in instead")


def local_checkpoints(roots: tuple[Path, ...], depth: int = 4, limit: int = 200) -> list[Path]:
    """Folders holding a config.json under the allowed model folders, for the New-job picker: `depth` levels
    down (the hub cache keeps a snapshot at models--org--name/snapshots/<sha>), linked folders not followed
    (they may lead outside the roots), at most `limit` of them."""
    found: list[Path] = []
    level = [root for root in roots if root.is_dir()]
    for _ in range(depth + 1):
        below = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            if any(e.name == "config.json" for e in entries):
                found.append(Path(folder))
            below += [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
        level = below
        if len(found) >= limit:
            break
    return sorted(found)[:limit]


def resolve_model(name: str, settings: Settings) -> Path:
    """A local checkpoint folder, or a hub id downloaded into the HF cache."""
    name = name.strip()
    if not name:
        raise ModelError("no model given: enter a checkpoint folder or a Hugging Face hub id")
    candidate = Path(name).expanduser()
    if candidate.is_absolute() or name.startswith((".", "~")) or _exists(candidate):
        if not _exists(candidate):
            raise ModelError(f"model path {candidate} does not exist")
        resolved = confine(candidate, settings.model_dirs, "model path")
        if not resolved.is_dir():
            raise ModelError(_not_a_folder(resolved))
        return resolved
    if HUB_ID.match(name):
        return _download_from_hub(name, settings)
    raise ModelError(f"'{name}' is neither an existing folder nor a hub id like 'org/model'")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ModelError(f"model path {_brief(str(path))} cannot be looked up: {exc.strerror}") from exc


def _not_a_folder(path: Path) -> str:
    if path.suffix.lower() == ".gguf":
        from gguf import GGUFReader
        try:
            GGUFReader(str(path))
        except Exception as exc:  # the reader fails in many ways on a cut file
            return f"model path {path} is a truncated or corrupt GGUF file ({type(exc).__name__}: {exc})"
        return (f"model path {path} is a GGUF file: the studio quantizes from the Hugging Face checkpoint "
                "folder it was converted from (config.json + *.safetensors)")
    return (f"model path {path} is a file, not a checkpoint folder "
            "(expected a folder with config.json and *.safetensors)")


HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


def _download_from_hub(repo_id: str, settings: Settings) -> Path:
    """The hub is reached only here, when a hub id is asked for; the disk is checked before downloading."""
    from huggingface_hub import snapshot_download
    offline = _offline()
    try:
        if not offline:
            _check_room_for(repo_id, settings.hf_cache)
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, cache_dir=settings.hf_cache,
                                      local_files_only=offline))
    except ModelError:
        raise
    except Exception as exc:  # offline, unknown repo, gated: all mean "cannot have it"
        if offline:
            raise ModelError(f"'{repo_id}' is not in the Hugging Face cache and the studio is offline "
                             "(HF_HUB_OFFLINE=1): download it while online, or give a local checkpoint folder") from exc
        first_line = (str(exc).splitlines() or [""])[0][:200]
        raise ModelError(f"could not get '{repo_id}' from the Hugging Face hub ({type(exc).__name__}: {first_line}); "
                         "check the name and the network, or download it into a local folder") from exc


def _offline() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it once, when it is first imported)."""
    from huggingface_hub.constants import is_offline_mode
    return is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _check_room_for(repo_id: str, cache: Path) -> None:
    """Refuse before downloading when the files still missing from the cache do not fit on its disk."""
    from fnmatch import fnmatch
    from huggingface_hub import HfApi, try_to_load_from_cache
    info = HfApi().model_info(repo_id, files_metadata=True)
    missing = sum(f.size or 0 for f in info.siblings or []
                  if any(fnmatch(f.rfilename, p) for p in HUB_PATTERNS)
                  and not isinstance(try_to_load_from_cache(repo_id, f.rfilename, cache_dir=cache), str))
    free = shutil.disk_usage(_existing_ancestor(cache)).free
    if missing > free:
        raise ModelError(f"'{repo_id}' needs {missing / 2**30:.2f} GiB more in the Hugging Face cache {cache}, "
                         f"which has {free / 2**30:.2f} GiB free: free some disk or point HF_HUB_CACHE elsewhere")


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


# Bits per element of every dtype the safetensors format knows (its loader refuses any other).
SAFETENSORS_DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32,
    "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}


def _brief(value, limit: int = 80) -> str:
    """A value read from JSON, written as JSON and cut short: a hostile file must not flood the message."""
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError):
        shown = repr(value)
    shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")  # JSON strings may hold lone surrogates
    return shown if len(shown) <= limit else shown[:limit] + "…"


def _json_kind(value) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _load_json(raw: bytes, where: str) -> object:
    """Parsed JSON, or a ModelError naming `where`; a nesting too deep for the parser is refused, not raised."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelError(f"{where} is not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})") from exc
    except RecursionError as exc:
        raise ModelError(f"{where} is not valid JSON (nested too deeply to read)") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{where} is not valid JSON ({exc})") from exc
    except ValueError as exc:  # Python's own limit on converting an integer's digits
        raise ModelError(f"{where} holds a number with more digits than any size needs") from exc


def safetensors_header(path: Path) -> dict:
    """The header of a .safetensors file, checked as the safetensors loader checks it: every tensor's dtype,
    shape and byte range valid, the ranges packed one after another and covering the data exactly."""
    size = path.stat().st_size
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ModelError(f"{path.name} is truncated (no safetensors header)")
        (n,) = struct.unpack("<Q", raw)
        if n <= 0 or n > min(size - 8, 100 * 2**20):
            raise ModelError(f"{path.name} has a corrupt safetensors header (length {n})")
        raw = f.read(n)
    if not raw.startswith(b"{"):  # the format's rule (the loader enforces it); what parses then is an object
        raise ModelError(f"{path.name} has a corrupt safetensors header: not a JSON object of tensors "
                         f"(it starts with {raw[:1]!r})")
    header = _load_json(raw, f"{path.name}: the safetensors header")
    tensors = {name: entry for name, entry in header.items() if name != "__metadata__"}
    _check_metadata(path.name, header.get("__metadata__"))
    for name, entry in tensors.items():
        _check_tensor(path.name, name, entry)
    _check_layout(path, tensors, data_bytes=size - 8 - n)
    return header


def _check_metadata(file: str, metadata) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelError(f"{file}: the safetensors header's __metadata__ is {_brief(metadata)}; "
                         "expected an object of strings")


def _check_tensor(file: str, name: str, entry) -> None:
    where = f"{file}: tensor {_brief(name)} in the safetensors header"
    if not isinstance(entry, dict):
        raise ModelError(f"{where} is a JSON {_json_kind(entry)}, not an object with dtype, shape and data_offsets")
    for key in ("dtype", "shape", "data_offsets"):
        if key not in entry:
            raise ModelError(f"{where} has no {key}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPE_BITS:
        raise ModelError(f"{where} has dtype {_brief(dtype)}, which safetensors does not know "
                         f"(it knows {', '.join(SAFETENSORS_DTYPE_BITS)})")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise ModelError(f"{where} has shape {_brief(shape)}; expected a list of non-negative integers below 2^64")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))
            and offsets[0] <= offsets[1]):
        raise ModelError(f"{where} has data_offsets {_brief(offsets)}; expected [begin, end], "
                         "integers with 0 <= begin <= end < 2^64")
    bits = _element_count(shape) * SAFETENSORS_DTYPE_BITS[dtype]
    if bits != (offsets[1] - offsets[0]) * 8:
        raise ModelError(f"{where} is {dtype} of shape {_brief(shape)}, {_size_text(bits)}, but its "
                         f"data_offsets {_brief(offsets)} span {offsets[1] - offsets[0]} bytes")


# The loader's sizes are 64-bit: larger values are refused (and never multiplied into huge integers here).
SIZE_LIMIT = 2**64


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < SIZE_LIMIT


def _element_count(shape: list[int]) -> int:
    """The product of the dimensions, stopped once past 64 bits (it then matches no byte range)."""
    count = 1
    for dim in shape:
        count *= dim
        if count >= SIZE_LIMIT:
            return SIZE_LIMIT
    return count


def _size_text(bits: int) -> str:
    if bits >= SIZE_LIMIT:
        return "2 EiB or more"
    return f"{bits // 8} bytes" if bits % 8 == 0 else f"{bits} bits (not a whole number of bytes)"


def _check_layout(path: Path, tensors: dict, data_bytes: int) -> None:
    """Tensors follow one another without gap or overlap and end where the file ends."""
    end = 0
    for name, entry in sorted(tensors.items(), key=lambda item: item[1]["data_offsets"]):
        begin = entry["data_offsets"][0]
        if begin != end:
            raise ModelError(f"{path.name}: tensor {_brief(name)} starts at byte {begin} of the data, but the tensor "
                             f"before it ends at byte {end}: the safetensors header's data_offsets "
                             f"{'overlap' if begin < end else 'leave a gap'}")
        end = entry["data_offsets"][1]
    if end > data_bytes:
        raise ModelError(f"{path.name} is truncated: header promises {path.stat().st_size - data_bytes + end} "
                         f"bytes, file has {path.stat().st_size}")
    if end < data_bytes:
        raise ModelError(f"{path.name} has {data_bytes - end} bytes after its last tensor, which its safetensors "
                         "header does not describe (a corrupt or mislabeled file)")


def _needs_remote_code(path: Path, config: dict) -> bool:
    """Custom code can come in through the model config, the tokenizer config, or .py files."""
    if config.get("auto_map") or any(path.glob("*.py")):
        return True
    for name in ("tokenizer_config.json", "processor_config.json"):
        try:
            extra = json.loads((path / name).read_bytes())
        except (OSError, ValueError, RecursionError):  # absent or unreadable: it maps to no code
            continue
        if isinstance(extra, dict) and "auto_map" in extra:
            return True
    return False


# The config.json sizes the studio reads (model facts, the planner): each a positive integer when given.
CONFIG_DIMENSIONS = ("hidden_size", "vocab_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                     "head_dim", "max_position_embeddings")


def parse_config(raw: bytes, config_path: Path) -> dict:
    """config.json as an object whose fields the studio reads have the types it reads them as; anything else
    is refused naming the file and the field, before a later stage trips over it."""
    config = _load_json(raw, str(config_path))
    if not isinstance(config, dict):
        raise ModelError(f"{config_path} is a JSON {_json_kind(config)}, not an object of settings")
    if "text_config" in config and not isinstance(config["text_config"], dict):
        raise ModelError(f"{config_path}: text_config is {_brief(config['text_config'])}; expected an object with "
                         "the text model's settings (hidden_size, vocab_size, …)")
    for prefix, section in (("", config), ("text_config.", config.get("text_config", {}))):
        for key in CONFIG_DIMENSIONS:
            if section.get(key) is not None and not (_is_count(section[key]) and section[key] > 0):
                raise ModelError(f"{config_path}: {prefix}{key} is {_brief(section[key])}; expected a positive integer")
    architectures = config.get("architectures")
    if architectures is not None and not (isinstance(architectures, list)
                                          and all(isinstance(a, str) for a in architectures)):
        raise ModelError(f"{config_path}: architectures is {_brief(architectures)}; expected a list of class names "
                         'such as ["LlamaForCausalLM"]')
    if not isinstance(config.get("model_type", ""), str):
        raise ModelError(f"{config_path}: model_type is {_brief(config['model_type'])}; expected a name such as "
                         '"llama"')
    return config


def _weight_files(path: Path, settings: Settings) -> list[Path]:
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        pickles = sorted(path.glob("*.bin")) + sorted(path.glob("*.pt"))
        if pickles and not settings.allow_pickle:
            raise ModelError(f"{path.name} has weights only as pickle files ({pickles[0].name}); "
                             "pickle can run code when loaded, so it is refused: convert the checkpoint "
                             "to safetensors, or set STUDIO_ALLOW_PICKLE=1 if you trust its source")
        if not pickles:
            raise ModelError(f"{path} has no weight files (*.safetensors)")
    return weights


def read_model_facts(path: Path, settings: Settings) -> ModelFacts:
    confine_files(path, settings.model_dirs)
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{path} has no config.json: it is not a Hugging Face checkpoint folder")
    raw_config = config_path.read_bytes()
    config = parse_config(raw_config, config_path)
    if _needs_remote_code(path, config) and not settings.trust_remote_code:
        raise ModelError(f"{path.name} needs trust_remote_code (its config maps to custom code); "
                         "refused by default: set STUDIO_TRUST_REMOTE_CODE=1 only if you trust its author")
    n_params, weight_bytes, fp = 0, 0, hashlib.sha256(raw_config)
    for w in _weight_files(path, settings):
        header = safetensors_header(w)
        n_params += sum(math.prod(meta["shape"]) for name, meta in header.items() if name != "__metadata__")
        st = w.stat()
        weight_bytes += st.st_size
        fp.update(f"{w.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for extra in sorted(path.glob("tokenizer*")) + sorted(path.glob("*.jinja")):
        fp.update(extra.read_bytes())
    text_config = config.get("text_config", config)
    tok_cfg = path / "tokenizer_config.json"
    has_template = (path / "chat_template.jinja").exists() or (
        tok_cfg.exists() and b"chat_template" in tok_cfg.read_bytes())
    return ModelFacts(
        path=path,
        key=fp.hexdigest()[:16],
        architecture=(config.get("architectures") or ["unknown"])[0],
        model_type=config.get("model_type", "unknown"),
        n_params=n_params,
        hidden_size=text_config.get("hidden_size"),
        vocab_size=text_config.get("vocab_size"),
        weight_bytes=weight_bytes,
        has_chat_template=has_template,
        context_length=text_config.get("max_position_embeddings"),
        intermediate_size=text_config.get("intermediate_size"),
        shape=_shape(config),
    )


def _shape(config: dict) -> Architecture | None:
    """The config's tensors, when it names the sizes a decoder's tensors follow from."""
    text_config = config.get("text_config", config)
    needed = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    if not all(isinstance(text_config.get(k), int) and text_config[k] > 0 for k in needed):
        return None
    return Architecture.from_config(config)
