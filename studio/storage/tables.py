"""The studio's tables: jobs (one recipe on one model), their log lines, results and generations."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column, Index, JSON, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class JobState:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    FINISHED = (DONE, FAILED, CANCELLED)


class Pending:
    """What a stored row may still wait for (Result.pending), filled in by the job that stored it (Result.filled_by)."""
    FULL_PASS = "full_pass"  # perplexity and divergence over every chunk: the row shows its first chunks' meanwhile
    GENERATIONS = "generations"  # with them the decode speed, load time and memory
    CHECKPOINT = "vs_checkpoint"  # the divergence from the HF checkpoint
    SERVING = "serving"  # the serving check: the artifact loaded and scored in vLLM
    WHAT = {FULL_PASS: "perplexity and KLD over every chunk (shown: the first chunks')",
            GENERATIONS: "generations, decode speed and memory", CHECKPOINT: "the divergence from the checkpoint",
            SERVING: "the serving check in vLLM"}


class Job(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    model: str = Field(index=True)  # resolved checkpoint folder
    model_key: str = Field(index=True)  # fingerprint of the checkpoint; keys caches
    recipe: str  # the label people read, e.g. "gguf:Q2_K+imatrix"
    recipe_name: str | None = None  # the registry's name of the recipe ("gguf"), or the job kind ("ollama:import")
    options: dict = Field(default_factory=dict, sa_column=Column(JSON))
    eval_text_path: str
    eval_text_sha: str
    n_ctx: int = 512
    max_chunks: int | None = None
    prompts: list = Field(default_factory=list, sa_column=Column(JSON))
    max_new_tokens: int = 64
    dedupe_key: str = Field(index=True)  # same work asked twice while pending -> refused
    state: str = Field(default=JobState.QUEUED, index=True)
    stage: str = "queued"
    progress: float = 0.0  # of the current stage, 0..1
    eta_seconds: float | None = None  # of the current stage
    stages: list = Field(default_factory=list, sa_column=Column(JSON))  # the stages it will walk, once it knows
    # the position of the running stage among `stages`: "stage 3 of 7" (a server default: older writers omit it)
    stage_number: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    stage_started_at: datetime | None = None
    expected_seconds: float | None = None  # the whole job, as the preflight expected it at submit
    stage_plan: dict = Field(default_factory=dict, sa_column=Column(JSON))  # stage -> expected seconds, when measured
    error: str | None = None
    pid: int | None = None  # the runner's process (group) id, on the worker's machine
    worker: str | None = None  # "host:pid" of the supervising consumer process that claimed it
    heartbeat_at: datetime | None = None  # refreshed by that supervisor while it runs the job
    cancel_requested: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobLog(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True, foreign_key="job.id")
    at: datetime = Field(default_factory=utcnow)
    line: str


class Result(SQLModel, table=True):
    # One base row per (model, text, protocol, backend), even when workers on two machines both evaluate it.
    __table_args__ = (Index("one_base_row_per_key", "base_key", unique=True,
                            sqlite_where=text("is_base"), postgresql_where=text("is_base")),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, index=True)
    model: str = Field(index=True)
    model_key: str = Field(index=True)
    recipe: str  # the label people read, e.g. "gguf:Q2_K+imatrix" or "gguf:base (F16)"
    recipe_name: str | None = None  # the registry's name of the recipe that made it; None for a base row
    family: str  # the format family's name (studio.families): its backend evaluated it, against its base
    is_base: bool = False
    base_key: str = Field(index=True)  # str(studio.families.BaseKey): rows comparable to each other
    artifact: str
    # byte and parameter counts pass 2^31 (an 8 B model): 64-bit on every database (revision 0002)
    size_bytes: int = Field(sa_type=BigInteger)
    n_params: int = Field(sa_type=BigInteger)
    bpw: float
    tensor_types: dict = Field(default_factory=dict, sa_column=Column(JSON))
    made_with: dict | None = Field(default=None, sa_column=Column(JSON))  # studio.stages.StageContext.made_with
    fallback_tensors: int = 0
    ppl: float
    nll_sum: float
    n_ctx: int
    n_chunks: int
    n_tokens_scored: int
    prefill_tok_s: float
    decode_tok_s: float
    peak_rss_bytes: int = Field(sa_type=BigInteger)
    peak_vram_bytes: int | None = Field(default=None, sa_type=BigInteger)
    emulated: bool = False  # the format's arithmetic imitated in higher precision, not run natively
    divergence: dict = Field(default_factory=dict, sa_column=Column(JSON))  # KLD etc. vs the base
    generations_skipped: str | None = None  # why a row has no generations (a model too big to hold)
    serving: dict | None = Field(default=None, sa_column=Column(JSON))  # studio.serving.check.ServingCheck, as a dict
    quant_seconds: float | None = None
    load_seconds: float | None = None
    pending: list = Field(default_factory=list, sa_column=Column(JSON))  # figures still to come (jobs.runner)
    filled_by: int | None = None  # the job that stored the row and fills in what is pending
    cpu_share: float | None = None  # of the cores asked for, what the forward passes got (busy machine: low)
    load_average: float | None = None  # the machine's 1-minute load average as the evaluation ended
    eval_text_sha: str
    created_at: datetime = Field(default_factory=utcnow)


class Generation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(index=True, foreign_key="result.id")
    prompt_index: int
    prompt: str
    text: str
    n_tokens: int


class SensitivityMap(SQLModel, table=True):
    """How much each tensor of a model hurts at a low type (studio.sensitivity), measured by a job."""
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True)
    # the format family whose types were measured: llama.cpp's on the GGUF ("gguf"), the studio's own formats on
    # the checkpoint's linear layers ("hf"; a server default: older databases hold only GGUF maps)
    family: str = Field(default="gguf", sa_column_kwargs={"server_default": "gguf"})
    model: str
    model_key: str = Field(index=True)
    calibration_sha: str
    n_ctx: int
    n_chunks: int
    tokens_scored: int
    high_type: str
    low_types: dict = Field(default_factory=dict, sa_column=Column(JSON))  # tensor name -> the low type measured
    added_kld: dict = Field(default_factory=dict, sa_column=Column(JSON))  # tensor name -> mean KLD it adds
    baseline_kld: float  # the model at the high type, against its F16
    # tensor name -> {format: its weight error's energy over the low format's} (HF maps: what costs the others)
    relative_error: dict | None = Field(default=None, sa_column=Column(JSON))
    seconds: float
    created_at: datetime = Field(default_factory=utcnow)
