"""`python -m jobs.ollama_job JOB_ID`: import one GGUF result into an Ollama server.

preflight -> connect -> hash -> upload -> create -> smoke test -> store. The queue supervises it like
a quantization job (own process group, log relay, cancel by SIGTERM); the stage reporting is the
quantization runner's.
"""
from __future__ import annotations

import signal
import sys
import traceback
from pathlib import Path

from jobs.process import die_with_parent
from jobs.runner import Cancelled, JobRunner
from studio.config import Settings
from studio.ollama.client import OllamaError, OllamaServer
from studio.ollama.importer import plan_import, run_import
from studio.ollama.service import gguf_result
from studio.ollama.store import clear_pending, note_pending, record_import
from studio.stages import Stage


class OllamaImportRunner(JobRunner):
    def run(self) -> None:
        options = self.job.options
        self.enter(Stage.PREFLIGHT)
        self.plan([Stage.PREFLIGHT, Stage.CONNECT, Stage.HASH, Stage.UPLOAD, Stage.CREATE, Stage.SMOKE_TEST,
                   Stage.STORE])
        result = gguf_result(self.settings, options["result_id"])
        plan = plan_import(Path(result.artifact), options["name"], options["modelfile"])
        self.log(f"importing result #{result.id} ({result.recipe}, {Path(result.artifact).name}) as {plan.name!r}")
        outcome = run_import(OllamaServer(options["host"]), plan, bool(options.get("overwrite")), self)
        self.enter(Stage.STORE)
        record_import(self.settings, self.job_id, result.id, plan.modelfile_text, outcome)
        self.log(f"imported {plan.name!r} in {outcome.seconds:.1f} s")

    def creating(self, host: str, name: str, existed: bool) -> None:
        note_pending(self.settings, self.job_id, host, name, existed)

    def settled(self) -> None:
        clear_pending(self.settings, self.job_id)


def main() -> int:
    job_id = int(sys.argv[1])
    die_with_parent()
    settings = Settings.from_env()
    # SIGTERM (cancel) unwinds through the import's cleanup instead of dying mid-request.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Cancelled()))
    runner = OllamaImportRunner(settings, job_id)
    try:
        runner.run()
        return 0
    except Cancelled:
        print("cancelled", flush=True)
        return 3
    except (OllamaError, ValueError, KeyError, FileNotFoundError) as exc:  # expected: the message says it all
        message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"error: {message}", flush=True)
        runner._update(error=message)
        return 1
    except Exception as exc:
        traceback.print_exc()
        runner._update(error=f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
