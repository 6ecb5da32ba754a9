"""HF perplexity + KLD: the studio's evaluation of a Hugging Face artifact with its divergence
against the base (the two evaluation processes a job runs) against a bare torch loop computing
perplexity only (bench/bare_torch_perplexity.py), on the same token ids. Goal ≤ 1.25×.

The artifact is INT8 RTN (per-channel, symmetric) of SmolLM2-135M, quantized once with the CLI;
both sides load it with the recipe's own loader (its documented way to load), on CPU in float32.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.measure import Figure, alternate, median, run_measured, value_range

RECIPE = "int8-rtn"
BARE_SCRIPT = Path(__file__).with_name("bare_torch_perplexity.py")


def evaluation_requests(artifact: Path, base: Path, tokens: Path, bos, model: Path, chunks: int) -> list[dict]:
    """The runner's two requests: the model alone (perplexity, prefill speed), then the divergence."""
    first = {"artifact": str(artifact), "base_artifact": None, "backend": "torch", "recipe": RECIPE,
             "tokenizer": str(model), "tokens_path": str(tokens), "bos": bos, "n_ctx": 512,
             "max_chunks": chunks, "prompts": [], "max_new_tokens": 0}
    return [first, {**first, "base_artifact": str(base)}]


def benchmark(ws, sizes, log) -> Figure:
    log(f"quantizing {RECIPE} once with the CLI")
    _, row = ws.quantize_job(RECIPE, sizes.hf_chunks, sizes.max_new_tokens)
    artifact = Path(row["artifact"])
    tokens, bos = ws.tokens("hf")
    requests = evaluation_requests(artifact, ws.model, tokens, bos, ws.model, sizes.hf_chunks)
    studio_ppl, bare_ppl, kld_seconds = [], [], []

    def studio() -> float:
        total = 0.0
        for i, request in enumerate(requests):
            req, out = ws.root / f"hf-{i}.request.json", ws.root / f"hf-{i}.json"
            req.write_text(json.dumps(request))
            run = run_measured([sys.executable, "-m", "studio.evaluation.process", str(req), str(out)], env=ws.env)
            total += run.seconds
        kld_seconds.append(run.seconds)
        studio_ppl.append(json.loads((ws.root / "hf-0.json").read_text())["ppl"])
        return total

    def bare() -> float:
        run = run_measured([sys.executable, str(BARE_SCRIPT), RECIPE, str(artifact), str(tokens),
                            "none" if bos is None else str(bos), str(sizes.hf_chunks)], env=ws.env)
        bare_ppl.append(json.loads(run.stdout.strip().splitlines()[-1])["ppl"])
        return run.seconds

    pairs = alternate(studio, bare, sizes.repetitions, log, "hf perplexity")
    return Figure(
        name="HF perplexity + KLD",
        a=f"studio evaluation + divergence processes: {median(pairs.a):.2f} s (range {value_range(pairs.a)})",
        b=f"bare torch perplexity loop: {median(pairs.b):.2f} s (range {value_range(pairs.b)})",
        ratio=pairs.ratio, goal="≤ 1.25×", met=pairs.ratio <= 1.25, spread=pairs.spread(),
        note=(f"SmolLM2-135M {RECIPE}, torch float32 on CPU, ctx 512, {sizes.hf_chunks} chunks, generations off. "
              f"The divergence process alone: {median(kld_seconds):.2f} s. PPL studio {studio_ppl[0]:.4f}, "
              f"bare {bare_ppl[0]:.4f}."),
        details={"a_seconds": pairs.a, "b_seconds": pairs.b, "kld_process_s": kld_seconds,
                 "studio_ppl": studio_ppl, "bare_ppl": bare_ppl})
