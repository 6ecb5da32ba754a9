"""Model facts: where a checkpoint lives, what it is, and whether the studio may touch it.

Reads only config.json and safetensors headers, so it is cheap enough for preflight.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from studio.config import Settings

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


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


def resolve_model(name: str, settings: Settings) -> Path:
    """A local checkpoint folder, or a hub id downloaded into the HF cache."""
    name = name.strip()
    if not name:
        raise ModelError("no model given: enter a checkpoint folder or a Hugging Face hub id")
    candidate = Path(name).expanduser()
    if candidate.is_absolute() or name.startswith((".", "~")) or candidate.exists():
        if not candidate.exists():
            raise ModelError(f"model path {candidate} does not exist")
        resolved = confine(candidate, settings.model_dirs, "model path")
        if not resolved.is_dir():
            raise ModelError(_not_a_folder(resolved))
        return resolved
    if HUB_ID.match(name):
        return _download_from_hub(name, settings)
    raise ModelError(f"'{name}' is neither an existing folder nor a hub id like 'org/model'")


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


def safetensors_header(path: Path) -> dict:
    size = path.stat().st_size
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ModelError(f"{path.name} is truncated (no safetensors header)")
        (n,) = struct.unpack("<Q", raw)
        if n <= 0 or n > min(size - 8, 100 * 2**20):
            raise ModelError(f"{path.name} has a corrupt safetensors header (length {n})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path.name} has a corrupt safetensors header ({exc})") from exc
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise ModelError(f"{path.name} is truncated: header promises {8 + n + end} bytes, file has {size}")
    return header


def _needs_remote_code(path: Path, config: dict) -> bool:
    """Custom code can come in through the model config, the tokenizer config, or .py files."""
    if config.get("auto_map") or any(path.glob("*.py")):
        return True
    for name in ("tokenizer_config.json", "processor_config.json"):
        try:
            if "auto_map" in json.loads((path / name).read_text()):
                return True
        except (OSError, json.JSONDecodeError):
            continue
    return False


def read_model_facts(path: Path, settings: Settings) -> ModelFacts:
    confine_files(path, settings.model_dirs)
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{path} has no config.json: it is not a Hugging Face checkpoint folder")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{config_path} is not valid JSON ({exc})") from exc
    if _needs_remote_code(path, config) and not settings.trust_remote_code:
        raise ModelError(f"{path.name} needs trust_remote_code (its config maps to custom code); "
                         "refused by default: set STUDIO_TRUST_REMOTE_CODE=1 only if you trust its author")
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        pickles = sorted(path.glob("*.bin")) + sorted(path.glob("*.pt"))
        if pickles and not settings.allow_pickle:
            raise ModelError(f"{path.name} has weights only as pickle files ({pickles[0].name}); "
                             "pickle can run code when loaded, so it is refused: convert the checkpoint "
                             "to safetensors, or set STUDIO_ALLOW_PICKLE=1 if you trust its source")
        if not pickles:
            raise ModelError(f"{path} has no weight files (*.safetensors)")
    n_params, weight_bytes, fp = 0, 0, hashlib.sha256(config_path.read_bytes())
    for w in weights:
        header = safetensors_header(w)
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for d in meta["shape"]:
                count *= d
            n_params += count
        st = w.stat()
        weight_bytes += st.st_size
        fp.update(f"{w.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for extra in sorted(path.glob("tokenizer*")) + sorted(path.glob("*.jinja")):
        fp.update(extra.read_bytes())
    text_config = config.get("text_config", config)
    tok_cfg = path / "tokenizer_config.json"
    has_template = (path / "chat_template.jinja").exists() or (
        tok_cfg.exists() and "chat_template" in tok_cfg.read_text())
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
    )
