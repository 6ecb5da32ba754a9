"""The Ollama import API the UI and the CLI call: preview a result's Modelfile, queue an import job,
read how it went. The import itself runs in `python -m jobs.ollama_job JOB_ID`."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from studio import families
from studio.config import Settings
from studio.ollama import modelfile
from studio.ollama.client import validate_host
from studio.ollama.gguf_chat import read_chat_metadata
from studio.ollama.importer import from_line, plan_import
from studio.ollama.names import MAX_NAME_CHARS, InvalidModelName, canonical
from studio.ollama.store import IMPORT_RECIPE, OllamaImport, import_for_job
from studio.ollama.templates import chat_setup
from studio.storage import Job, Result, reading, session
from studio.storage.jobs import get_job, pending_duplicate



@dataclass(frozen=True)
class ModelfilePreview:
    result_id: int
    artifact: Path
    family: str | None  # None: unknown chat template, the user writes the TEMPLATE
    text: str
    warnings: tuple[str, ...]
    suggested_name: str  # e.g. smollm2-135m-instruct:q4_k_m


@dataclass(frozen=True)
class ImportRequest:
    result_id: int
    name: str
    host: str
    modelfile: str
    overwrite: bool = False


@dataclass(frozen=True)
class ImportStatus:
    job: Job
    log: list[str]
    outcome: OllamaImport | None  # set once the job is done


def gguf_result(settings: Settings, result_id: int) -> Result:
    with reading(settings.db_url) as s:
        result = s.get(Result, result_id)
    if result is None:
        raise KeyError(f"no result #{result_id} (see `python -m studio results --json` for ids)")
    if not families.get(result.family).ollama_imports:
        raise ValueError(f"result #{result_id} is a {result.family} result; Ollama imports GGUF files only")
    return result


def preview_modelfile(settings: Settings, result_id: int) -> ModelfilePreview:
    result = gguf_result(settings, result_id)
    artifact = Path(result.artifact)
    meta = read_chat_metadata(artifact)
    setup = chat_setup(meta)
    header = [f"Modelfile for Ollama, written by Quantization Studio from result #{result_id}",
              f"{result.recipe} of {Path(result.model).name} ({meta.file_type}, {meta.architecture})",
              f"chat template family: {setup.family or 'unknown'} (from the GGUF's tokenizer.chat_template)",
              "by hand: put this file next to the GGUF and run  ollama create NAME -f Modelfile"]
    text = modelfile.render(from_line(artifact), setup, header)
    return ModelfilePreview(result_id, artifact, setup.family, text, setup.warnings + modelfile.left_out(setup),
                            _suggest_name(result, meta))


def _suggest_name(result: Result, meta) -> str:
    model = re.sub(r"[^a-z0-9_.-]+", "-", Path(result.model).name.lower()).strip("-.") or "model"
    return f"{model[:80]}:{meta.file_type.lower()}"


def gguf_results(settings: Settings) -> list[Result]:
    """Every result an import can start from, newest first."""
    importable = [f.name for f in families.all_families() if f.ollama_imports]
    with reading(settings.db_url) as s:
        return list(s.exec(select(Result).where(Result.family.in_(importable)).order_by(Result.id.desc())).all())


def download_files(settings: Settings, result_id: int, text: str) -> tuple[list[Path], str | None]:
    """The Modelfile (as edited) and, when it lives among the outputs the UI may serve, the GGUF."""
    artifact = Path(gguf_result(settings, result_id).artifact)
    files = [write_modelfile(settings, result_id, text)]
    if artifact.resolve().is_relative_to(settings.outputs_dir.resolve()):
        return files + [artifact], None
    return files, f"the GGUF is not among the studio's outputs; copy it from {artifact}"


def write_modelfile(settings: Settings, result_id: int, text: str) -> Path:
    """The Modelfile as a file to download next to the GGUF."""
    folder = settings.outputs_dir / "modelfiles" / f"result-{result_id}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Modelfile"
    path.write_text(text, encoding="utf-8")
    return path


def submit_import(settings: Settings, req: ImportRequest, enqueue) -> int:
    """Check everything checkable without the server, then queue the import job (`enqueue`: see
    studio.service.Enqueue); returns its id."""
    _check_sizes(req)
    host = validate_host(req.host)
    result = gguf_result(settings, req.result_id)
    plan = plan_import(Path(result.artifact), req.name, req.modelfile)
    key = hashlib.sha256(f"{IMPORT_RECIPE}|{req.result_id}|{canonical(plan.name)}|{host}".encode()).hexdigest()[:24]
    with session(settings.db_url) as s:
        if (dup := pending_duplicate(s, key)) is not None:
            raise ValueError(f"importing result #{req.result_id} as {plan.name!r} is already {dup.state} "
                             f"as job #{dup.id}")
        job = Job(model=result.model, model_key=result.model_key, recipe=IMPORT_RECIPE, recipe_name=IMPORT_RECIPE,
                  eval_text_path="",
                  eval_text_sha=result.eval_text_sha, dedupe_key=key, prompts=[],
                  options={"result_id": req.result_id, "name": plan.name, "host": host,
                           "modelfile": req.modelfile, "overwrite": req.overwrite})
        s.add(job)
        s.commit()
    enqueue(settings, job.id)
    return job.id


def _check_sizes(req: ImportRequest) -> None:
    """Refuse free text too large to be what it claims before it is parsed, echoed or stored in the job's
    row. (validate_host bounds the host.)"""
    modelfile.check_size(len(req.modelfile.encode("utf-8")))
    if len(req.name) > MAX_NAME_CHARS:
        raise InvalidModelName(f"the model name is {len(req.name):,} characters long; Ollama allows at most "
                               f"{MAX_NAME_CHARS} ([host/][namespace/]model[:tag])")


def import_status(settings: Settings, job_id: int, tail: int = 40) -> ImportStatus:
    from studio import service

    job = get_job(settings.db_url, job_id)
    if job is None or job.recipe_name != IMPORT_RECIPE:
        raise KeyError(f"no Ollama import job #{job_id}")
    return ImportStatus(job, service.job_log(settings, job_id, tail=tail), import_for_job(settings, job_id))

