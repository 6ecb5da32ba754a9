"""Settings from environment variables, with embedded defaults so `make run` needs none."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default.resolve()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    workspace: Path
    cache_dir: Path  # shared across workspaces: llama.cpp converter, etc.
    db_url: str
    queue_url: str | None
    model_dirs: tuple[Path, ...]
    hf_cache: Path
    allow_pickle: bool
    trust_remote_code: bool
    base_cache_bytes: int = 4 * 2**30  # per model: the base logits kept for the next jobs (evaluation.base_cache)

    @classmethod
    def from_env(cls, workspace: Path | str | None = None) -> "Settings":
        ws = Path(workspace).expanduser().resolve() if workspace else _env_path(
            "STUDIO_WORKSPACE", REPO_ROOT / "workspace")
        hf_cache = _env_path("HF_HUB_CACHE",
                             Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser() / "hub")
        extra = tuple(Path(p).expanduser().resolve()
                      for p in os.environ.get("STUDIO_MODEL_DIRS", "").split(os.pathsep) if p.strip())
        return cls(
            workspace=ws,
            cache_dir=_env_path("STUDIO_CACHE", Path("~/.cache/quantization-studio").expanduser()),
            db_url=os.environ.get("STUDIO_DB_URL") or f"sqlite:///{ws / 'studio.db'}",
            queue_url=os.environ.get("STUDIO_QUEUE_URL") or None,
            model_dirs=(ws / "models", hf_cache, *extra),
            hf_cache=hf_cache,
            allow_pickle=_env_flag("STUDIO_ALLOW_PICKLE"),
            trust_remote_code=_env_flag("STUDIO_TRUST_REMOTE_CODE"),
            base_cache_bytes=int(float(os.environ.get("STUDIO_BASE_CACHE_GIB") or 4) * 2**30),
        )

    @property
    def outputs_dir(self) -> Path:
        return self.workspace / "outputs"

    @property
    def tmp_dir(self) -> Path:
        return self.workspace / "tmp"

    @property
    def model_cache_dir(self) -> Path:
        return self.workspace / "cache"

    @property
    def uploads_dir(self) -> Path:
        return self.workspace / "uploads"

    def job_tmp_dir(self, job_id: int) -> Path:
        return self.tmp_dir / f"job-{job_id}"

    def ensure_dirs(self) -> None:
        for d in (self.workspace, self.outputs_dir, self.tmp_dir, self.model_cache_dir,
                  self.uploads_dir, self.workspace / "models"):
            d.mkdir(parents=True, exist_ok=True)

    def to_env(self) -> dict[str, str]:
        """Environment for child processes so they see the same settings."""
        env = {"STUDIO_WORKSPACE": str(self.workspace), "STUDIO_CACHE": str(self.cache_dir),
               "STUDIO_DB_URL": self.db_url}
        if self.queue_url:
            env["STUDIO_QUEUE_URL"] = self.queue_url
        return env


def redact_url(url: str) -> str:
    """A broker or database URL fit for a log line: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
