"""A comparison's base logits kept on disk, so the jobs after the first score against them without running the
base again: N candidates on one model, text and protocol cost about N forward passes, not 2N.

One entry per base key in the model's cache: each chunk's logits at the scored positions, float32, exactly as
the base produced them (a job that reads them gets, bit for bit, the figures of a lockstep pass), with the digest
of the chunk's token ids, and a manifest written last (an entry without one is unfinished and never read).
Entries stay within a budget: the least recently read go first, and an entry larger than the whole budget is not
kept (the pass runs the base, as without a cache).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from studio.evaluation.protocol import Logits

MANIFEST = "manifest.json"
FOLDER = "base-logits"
DISK_MARGIN = 2**30  # left free beside a new entry


def entry_dir(model_cache: Path, base_key: str) -> Path:
    return model_cache / FOLDER / hashlib.sha256(base_key.encode()).hexdigest()[:16]


def is_complete(entry: Path) -> bool:
    return (entry / MANIFEST).is_file()


def _digest(chunk: list[int]) -> str:
    return hashlib.sha256(np.asarray(chunk, dtype=np.int64).tobytes()).hexdigest()[:16]


def reader(entry: Path) -> Logits:
    """The kept logits, chunk after chunk in the order the pass asks for them; a chunk whose token ids are not the
    ones the entry was made from is an error (a key that should have differed)."""
    manifest = json.loads((entry / MANIFEST).read_text())
    (entry / MANIFEST).touch()  # recently used: evicted last
    served = iter(range(len(manifest["chunks"])))

    def logits_of(chunk: list[int]) -> np.ndarray:
        i = next(served)
        if manifest["chunks"][i] != _digest(chunk):
            raise RuntimeError(f"kept base logits {entry.name}: chunk {i} was made from other token ids")
        return np.load(entry / f"chunk-{i:05d}.npy")
    return logits_of


class Recorder:
    """Passes the base's logits through and keeps them; `finish` publishes the entry once the pass is whole."""

    def __init__(self, entry: Path, partial: Path, base_key: str, n_chunks: int, budget_bytes: int, log=print):
        """`partial`: where the chunks go until the pass is whole (the job's own folder, which its supervisor
        removes whatever happens)."""
        self.entry, self.partial, self.base_key = entry, partial, base_key
        self.n_chunks, self.budget, self.log = n_chunks, budget_bytes, log
        self.digests: list[str] = []
        self.keeping = True

    def wrap(self, logits_of: Logits) -> Logits:
        def recorded(chunk: list[int]) -> np.ndarray:
            logits = logits_of(chunk)
            if self.keeping and not self.digests:
                self._make_room(self.n_chunks * logits.nbytes)
            if self.keeping:
                np.save(self.partial / f"chunk-{len(self.digests):05d}.npy", np.asarray(logits, dtype=np.float32))
                self.digests.append(_digest(chunk))
            return logits
        return recorded

    def _make_room(self, needed: int) -> None:
        self.entry.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.entry.parent).free
        if needed > self.budget or needed + DISK_MARGIN > free:
            self.keeping = False
            self.log(f"base logits not kept: {needed / 2**30:.2f} GiB for this protocol; the budget is "
                     f"{self.budget / 2**30:.2f} GiB per model (STUDIO_BASE_CACHE_GIB), {free / 2**30:.1f} GiB free")
            return
        evict_for(self.entry.parent, needed, self.budget, self.log)
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)

    def finish(self) -> None:
        if not self.keeping or len(self.digests) != self.n_chunks:
            shutil.rmtree(self.partial, ignore_errors=True)
            return
        (self.partial / MANIFEST).write_text(json.dumps({"base_key": self.base_key, "chunks": self.digests,
                                                         "kept_at": time.time()}))
        if is_complete(self.entry):  # another job on this comparison kept them first: the same logits
            shutil.rmtree(self.partial, ignore_errors=True)
            return
        shutil.rmtree(self.entry, ignore_errors=True)  # an unfinished one
        self.partial.replace(self.entry)
        self.log(f"base logits kept for the next jobs on this comparison: {self.entry}")


def entry_bytes(entry: Path) -> int:
    return sum(p.stat().st_size for p in entry.iterdir() if p.is_file())


def evict_for(folder: Path, needed: int, budget: int, log=print) -> None:
    """Remove the least recently read complete entries until `needed` more bytes fit in the budget."""
    entries = sorted((e for e in folder.glob("*") if e.is_dir() and is_complete(e)),
                     key=lambda e: (e / MANIFEST).stat().st_mtime)
    used = sum(entry_bytes(e) for e in entries)
    for oldest in entries:
        if used + needed <= budget:
            break
        used -= entry_bytes(oldest)
        shutil.rmtree(oldest, ignore_errors=True)
        log(f"base logits {oldest.name} removed to stay within the budget")
