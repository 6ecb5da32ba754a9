"""`python -m jobs.sensitivity_job JOB_ID`: measure one model's sensitivity map, for one format family.

GGUF (studio.sensitivity): preflight -> convert (the F16 GGUF, shared with the GGUF jobs) -> quantize (the model
at Q8_0, and every tensor at its low type: kept in the model's cache for the next map) -> sensitivity (one spliced
file per tensor, scored against the F16's logits on the calibration text) -> store.
HF (studio.sensitivity_hf): preflight -> sensitivity (each linear layer alone at MXFP4, in place, scored against
the checkpoint's logits) -> store. Supervised like any job (own process group, log
relay, cancel by SIGTERM); the stage reporting is the quantization runner's.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import traceback
from pathlib import Path

from jobs.process import die_with_parent
from jobs.runner import Cancelled, JobRunner
from studio import sensitivity, sensitivity_hf
from studio.auto_mix import tensor_type_file, tensors
from studio.config import Settings
from studio.evaluation import llama_backend, torch_backend
from studio.evaluation.protocol import Protocol
from studio.evaluation.texts import load_text
from studio.families.gguf import ensure_base_gguf
from studio.llamacpp import ensure_tools, file_lock
from studio.models import read_model_facts
from studio.recipes.gguf import quantize_file
from studio.stages import Stage, StageContext
from studio.storage import SensitivityMap, session
from studio.storage.jobs import job_stage, mark_done


class SensitivityRunner(JobRunner):
    def run(self) -> None:
        job, settings = self.job, self.settings
        self.enter(Stage.PREFLIGHT)
        model = read_model_facts(Path(job.model), settings)
        if model.key != job.model_key:
            raise ValueError("the checkpoint changed on disk since the job was queued; submit it again")
        tmp = settings.job_tmp_dir(job.id)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        cache = settings.model_cache_dir / model.key
        cache.mkdir(parents=True, exist_ok=True)
        self.model = model
        ctx = StageContext(job.id, model, {}, tmp, cache, settings.cache_dir, self.report, self.run_logged, self.enter)
        protocol = sensitivity.map_protocol(job.n_ctx, job.max_chunks)
        measure = self.measure_hf if (job.options or {}).get("family") == "hf" else self.measure_gguf
        found = measure(ctx, protocol, load_text(Path(job.eval_text_path)))
        self.enter(Stage.STORE)
        sensitivity.write_map_file(cache, found)  # what the automatic mixes read
        with session(settings.db_url) as s:
            s.add(found)
            mark_done(s, self.job_id)
            s.commit()
        self.log(f"measured {len(found.added_kld)} tensors in {found.seconds:.0f} s")

    def measure_gguf(self, ctx: StageContext, protocol: Protocol, text: str) -> SensitivityMap:
        """llama.cpp's types: each tensor alone at its low type in the Q8_0 file, against the F16."""
        self.plan([Stage.PREFLIGHT, Stage.CONVERT, Stage.QUANTIZE, Stage.SENSITIVITY, Stage.STORE])
        self.enter(Stage.CONVERT)
        f16 = ensure_base_gguf(ctx)
        self.enter(Stage.QUANTIZE)
        low_types = {t.name: sensitivity.low_type(t.ne[0]) for t in tensors(ctx.model.shape)}
        high, low = self.quantized(ctx, f16, low_types)
        self.enter(Stage.SENSITIVITY)
        tokens, bos = llama_backend.tokenize(f16, text)
        self.log(f"{len(low_types)} tensors, each alone at its low type, scored on {protocol.n_chunks(len(tokens))} "
                 f"chunks of {protocol.n_ctx} against the F16")
        found = sensitivity.measure(f16, high, low, tokens, bos, protocol, list(low_types), ctx.tmp_dir, self.report)
        return self._map(protocol, len(tokens), "gguf", sensitivity.HIGH_TYPE, low_types, found.added_kld,
                         found.baseline_kld, found.tokens_scored, found.seconds)

    def measure_hf(self, ctx: StageContext, protocol: Protocol, text: str) -> SensitivityMap:
        """The studio's own formats: each linear layer alone at the lowest, the rest as the checkpoint holds it."""
        self.plan([Stage.PREFLIGHT, Stage.SENSITIVITY, Stage.STORE])
        self.enter(Stage.SENSITIVITY)
        tokens, bos = torch_backend.tokenize(ctx.model.path, text)
        layers = [name for name, _, _ in ctx.model.shape.linears()]
        self.log(f"{len(layers)} linear layers, each alone at {sensitivity_hf.LOW_FORMAT}, scored on "
                 f"{protocol.n_chunks(len(tokens))} chunks of {protocol.n_ctx} against the checkpoint")
        found = sensitivity_hf.measure(ctx.model.path, tokens, bos, protocol, layers, self.report)
        return self._map(protocol, len(tokens), "hf", "checkpoint", dict.fromkeys(layers, sensitivity_hf.LOW_FORMAT),
                         found.added_kld, 0.0, found.tokens_scored, found.seconds, found.relative_error)

    def _map(self, protocol: Protocol, n_tokens: int, family: str, high: str, low_types: dict, added_kld: dict,
             baseline_kld: float, tokens_scored: int, seconds: float, relative_error: dict | None = None
             ) -> SensitivityMap:
        job = self.job
        return SensitivityMap(job_id=job.id, family=family, model=job.model, model_key=job.model_key,
                              calibration_sha=job.eval_text_sha, n_ctx=protocol.n_ctx,
                              n_chunks=protocol.n_chunks(n_tokens), tokens_scored=tokens_scored, high_type=high,
                              low_types=low_types, added_kld=added_kld, baseline_kld=baseline_kld,
                              relative_error=relative_error, seconds=seconds)

    def quantized(self, ctx: StageContext, f16: Path, low_types: dict[str, str]) -> tuple[Path, Path]:
        """The model at the high type and every tensor at its low type, made once per model (llama.cpp's own
        quantizer; the low file through a tensor-type file, so no mix rule changes what is measured)."""
        high, low = ctx.cache_dir / f"sensitivity-{sensitivity.HIGH_TYPE}.gguf", ctx.cache_dir / "sensitivity-low.gguf"
        with file_lock(ctx.cache_dir / "sensitivity.lock"):
            if not high.exists():
                quantize_file(f16, ctx.tmp_dir / high.name, {"type": sensitivity.HIGH_TYPE, "threads": 0})
                (ctx.tmp_dir / high.name).replace(high)
            if not low.exists():
                overrides = ctx.tmp_dir / "low-types.txt"
                overrides.write_text(tensor_type_file(low_types))
                tools = ensure_tools(ctx.shared_cache, log=lambda line: ctx.report(0.0, line))
                ctx.run_logged([str(tools / "llama-quantize"), "--tensor-type-file", str(overrides), str(f16),
                                str(ctx.tmp_dir / low.name), sensitivity.HIGH_TYPE, str(os.cpu_count() or 1)])
                (ctx.tmp_dir / low.name).replace(low)
        return high, low


def main() -> int:
    job_id = int(sys.argv[1])
    die_with_parent()
    settings = Settings.from_env()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Cancelled()))
    runner = SensitivityRunner(settings, job_id)
    try:
        runner.run()
        return 0
    except Cancelled:
        print("cancelled", flush=True)
        os._exit(3)
    except Exception as exc:
        traceback.print_exc()
        shutil.rmtree(settings.job_tmp_dir(job_id), ignore_errors=True)
        runner._update(error=f"{job_stage(settings.db_url, job_id)}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
