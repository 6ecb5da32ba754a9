"""`python -m studio ollama …`: the import, headless."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from studio.config import Settings

if TYPE_CHECKING:
    from studio.service import Queue


def add_parser(sub) -> None:
    o = sub.add_parser("ollama", help="import a GGUF result into an Ollama server")
    osub = o.add_subparsers(dest="ollama_command", required=True)
    imp = osub.add_parser("import", help="queue an import job (upload, create, smoke chat)")
    imp.add_argument("result_id", type=int, help="a result id (see `results --json`)")
    imp.add_argument("--name", required=True, help="Ollama model name, e.g. smollm2-135m:q4_k_m")
    imp.add_argument("--host", help="Ollama server (default: $OLLAMA_HOST or http://127.0.0.1:11434)")
    imp.add_argument("--modelfile", type=Path, help="use this (edited) Modelfile instead of the generated one")
    imp.add_argument("--overwrite", action="store_true", help="replace a model of the same name")
    imp.add_argument("--wait", action="store_true", help="wait for the import and print its outcome")
    imp.add_argument("--json", action="store_true")
    mf = osub.add_parser("modelfile", help="print the Modelfile the import would use (warnings on stderr)")
    mf.add_argument("result_id", type=int)


def run(settings: Settings, args, queue: Queue) -> int:
    from studio.ollama import service
    from studio.ollama.client import default_host

    try:
        preview = service.preview_modelfile(settings, args.result_id)
    except (KeyError, ValueError) as exc:
        return _error(exc)
    for warning in preview.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.ollama_command == "modelfile":
        print(preview.text, end="")
        return 0
    try:
        text = _read_modelfile(args.modelfile) if args.modelfile else preview.text
        request = service.ImportRequest(args.result_id, args.name, args.host or default_host(), text, args.overwrite)
        job_id = service.submit_import(settings, request, queue.enqueue)
    except (KeyError, ValueError, OSError) as exc:  # OSError: an unreadable --modelfile
        return _error(exc)
    print(f"queued import job #{job_id}", file=sys.stderr)
    return _wait_and_print(settings, job_id, args.json, queue) if args.wait else 0


def _read_modelfile(path: Path) -> str:
    """The edited Modelfile; one larger than an import takes is refused unread (it may be the GGUF itself)."""
    from studio.ollama.modelfile import check_size

    check_size(path.stat().st_size)
    return path.read_text(encoding="utf-8")


def _wait_and_print(settings: Settings, job_id: int, as_json: bool, queue: Queue) -> int:
    from studio import service as studio_service
    from studio.ollama import service

    consumer = None
    if not settings.queue_url and not queue.consumer_alive(settings):
        consumer = queue.start_consumer(settings)  # no studio running: run the job here
    try:
        studio_service.wait_for(settings, [job_id], on_change=lambda jobs: print(
            f"  job #{jobs[0].id}: {jobs[0].state} / {jobs[0].stage} {100 * jobs[0].progress:.0f}%", file=sys.stderr))
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)
    status = service.import_status(settings, job_id)
    if status.outcome is None:
        print(f"import job #{job_id} {status.job.state}: {status.job.error}", file=sys.stderr)
        return 1
    row = status.outcome.model_dump(mode="json")
    if as_json:
        print(json.dumps(row, indent=2))
    else:
        details = row["show"].get("details", {})
        print(f"imported {row['name']} into {row['host']} ({details.get('quantization_level')}, "
              f"{details.get('parameter_size')}) in {row['seconds']:.1f} s\n"
              f"smoke test: {row['smoke_prompt']}\n  -> {row['smoke_answer']}\n"
              f"chat with it: ollama run {row['name']}")
    return 0


def _error(exc: Exception) -> int:
    print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
    return 2
