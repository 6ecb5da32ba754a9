"""The stages a job walks through, as one type, and what a recipe's stages get from the job runner.

A job row's `stage` column holds a `Stage` value (a `str`, so rows written before it existed read the same).
The supervisor needs two facts about stages: which can be restarted from scratch by re-queuing the job (no
heavy work begun), and which must not be interrupted (storing: the artifact is moved in, the row not yet
committed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable

from studio.models import ModelFacts


class Stage(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"  # claimed by a supervisor, its process not yet running the job
    PREFLIGHT = "preflight"
    # a recipe's own sub-stages, before the runner's quantize stage
    CONVERT = "convert"
    IMATRIX = "imatrix"
    QUANTIZE = "quantize"
    EVALUATE = "evaluate"
    CHECKPOINT_DIVERGENCE = "divergence vs checkpoint"
    EVALUATE_BASE = "evaluate base"
    SERVING_CHECK = "serving check"  # the artifact loaded and scored in vLLM (studio.serving.check)
    # an Ollama import's steps
    CONNECT = "connect"
    HASH = "hash"
    UPLOAD = "upload"
    CREATE = "create"
    SMOKE_TEST = "smoke test"
    # a sensitivity map's measurement: one candidate file per tensor
    SENSITIVITY = "sensitivity"
    STORE = "store"
    DONE = "done"


# A job interrupted in these goes back to the queue: nothing it did needs undoing.
RESTARTABLE = frozenset({Stage.STARTING, Stage.PREFLIGHT})
# A cancel waits until these end: the job then finishes whole or leaves nothing.
UNCANCELLABLE = frozenset({Stage.STORE})


@dataclass
class StageContext:
    """What a recipe's stages get from the job runner: where to write and how to report."""
    job_id: int
    model: ModelFacts
    options: dict
    tmp_dir: Path
    cache_dir: Path  # per-model cache in the workspace
    shared_cache: Path  # across workspaces (llama.cpp converter)
    report: Callable[[float, str | None], None]  # (fraction of stage done, log line)
    run_logged: Callable[..., None]  # run a subprocess, streaming its output to the job log
    enter_stage: Callable[[Stage], None]  # name the sub-stage now running (checks for cancellation)
    # what the artifact was made from beyond its options (an automatic mix: the sensitivity map's job and the type
    # chosen per tensor), stored with its row
    made_with: dict = field(default_factory=dict)
