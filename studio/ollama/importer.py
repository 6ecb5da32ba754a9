"""The import, step by step: check the server, upload the GGUF blob, create the model, chat once.

Nothing is half-imported: every check that can fail without the server runs first; a model this
import created is deleted again if anything after `create` began goes wrong (a server error
mid-stream, a failed smoke chat, a cancel). A model that existed before (overwrite) is never deleted.
Should the process die before that undo (kill -9), `Steps.creating` has recorded what to undo, and the
job's supervisor does it (recovery.py).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from studio.ollama import modelfile
from studio.ollama.client import ModelExists, OllamaServer, ServerError, file_digest
from studio.ollama.gotemplate import GoTemplateError, parse as parse_go_template
from studio.ollama.names import validate_model_name
from studio.stages import Stage

SMOKE_PROMPT = "What is the capital of France? Answer in one sentence."
# Greedy and short: the smoke test shows whether the template works, not how creative the model is.
SMOKE_OPTIONS = {"temperature": 0, "seed": 0, "num_predict": 48}


class Steps(Protocol):
    """Where the import reports to (the job runner): named stages, progress within one, log lines."""

    def enter(self, stage: Stage) -> None: ...

    def report(self, fraction: float, line: str | None = None) -> None: ...

    def log(self, line: str) -> None: ...

    def creating(self, host: str, name: str, existed: bool) -> None:
        """`create` is about to be sent: from here until `settled` (or the import is stored), a process
        killed mid-way leaves a model behind, so the runner records what to undo where its supervisor
        can find it."""

    def settled(self) -> None:
        """The undo is done: the model this import created is gone (or it existed before and stays)."""


@dataclass(frozen=True)
class ImportPlan:
    artifact: Path
    name: str
    modelfile_text: str
    modelfile: modelfile.Modelfile


@dataclass
class ImportOutcome:
    name: str
    host: str
    server_version: str
    digest: str
    uploaded: bool  # False: the server already had the blob
    smoke_prompt: str
    smoke_answer: str
    show: dict
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def from_line(artifact: Path) -> str:
    return f"./{artifact.name}"


def plan_import(artifact: Path, name: str, modelfile_text: str) -> ImportPlan:
    """Everything checkable before talking to a server; raises ValueError subclasses with the reason."""
    name = validate_model_name(name)
    if not artifact.is_file():
        raise FileNotFoundError(f"the GGUF {artifact} is gone; quantize again")
    parsed = modelfile.parse(modelfile_text)
    if parsed.from_ != from_line(artifact):
        raise modelfile.ModelfileError(f"FROM must stay {from_line(artifact)}: the import sends this result's GGUF")
    if not parsed.template:
        raise modelfile.ModelfileError(
            "the Modelfile has no TEMPLATE: without one Ollama feeds the model raw text and it answers with "
            "gibberish. Write the chat template (Go template syntax) into the Modelfile")
    return ImportPlan(artifact, name, modelfile_text, parsed)


def run_import(server: OllamaServer, plan: ImportPlan, overwrite: bool, steps: Steps) -> ImportOutcome:
    started = time.monotonic()
    steps.enter(Stage.CONNECT)
    version = server.version()
    steps.log(f"Ollama {version} at {server.host}")
    _warn_if_unchecked_template(plan.modelfile.template, steps)
    existed = server.exists(plan.name)
    if existed and not overwrite:
        raise ModelExists(f"a model named {plan.name!r} already exists on {server.host}; confirm overwrite "
                          "(tick Overwrite, or pass --overwrite) to replace it, or choose another name")

    steps.enter(Stage.HASH)
    digest = file_digest(plan.artifact, steps.report)
    steps.enter(Stage.UPLOAD)
    uploaded = server.upload_blob(plan.artifact, digest, steps.report)
    steps.log(f"blob {digest}: " + ("uploaded" if uploaded else "already on the server, not sent again"))

    steps.enter(Stage.CREATE)
    steps.creating(server.host, plan.name, existed)
    try:
        server.create(plan.name, {plan.artifact.name: digest}, plan.modelfile.template, plan.modelfile.system,
                      plan.modelfile.parameters, on_status=lambda status: steps.log(f"ollama: {status}"))
        steps.enter(Stage.SMOKE_TEST)
        steps.log(f"asking: {SMOKE_PROMPT}")
        answer = server.chat(plan.name, [{"role": "user", "content": SMOKE_PROMPT}], SMOKE_OPTIONS).strip()
        steps.log(f"answer: {answer}")
        if not answer:
            raise ServerError("the smoke chat came back empty: the TEMPLATE or the stop tokens are likely wrong")
        shown = server.show(plan.name)
    except BaseException:
        _undo(server, plan.name, existed, steps)
        raise
    return ImportOutcome(plan.name, server.host, version, digest, uploaded, SMOKE_PROMPT, answer, shown,
                         round(time.monotonic() - started, 3))


def _warn_if_unchecked_template(template: str, steps: Steps) -> None:
    try:
        parse_go_template(template)
    except GoTemplateError as exc:
        steps.log(f"note: the studio cannot check this TEMPLATE ({exc}); the server will")


def _undo(server: OllamaServer, name: str, existed: bool, steps: Steps) -> None:
    if existed:
        steps.log(f"{name!r} existed before this import; it is left as the server has it")
        steps.settled()
        return
    try:
        deleted = server.delete(name)
    except Exception as exc:  # the original failure matters more; say what is left (the supervisor retries)
        steps.log(f"could not delete {name!r} ({exc}); remove it with `OLLAMA_HOST={server.host} ollama rm {name}`")
        return
    steps.log(f"deleted the partly imported model {name!r}" if deleted else f"no model {name!r} was left behind")
    steps.settled()
