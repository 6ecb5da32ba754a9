"""HF perplexity + KLD: the studio's evaluation of a Hugging Face artifact with its divergence
against the base (the evaluation process a job runs) against a bare torch loop computing perplexity
only (bench/bare_torch_perplexity.py), on the same token ids. Goal ≤ 1.25×.

KLD needs the base's logits on every scored token, so the studio runs the base alongside: twice the
forward passes of a perplexity-only loop. A second reference, the same bare loop with the base run
alongside (perplexity + KLD, the same work), measures the studio's own cost apart from that.

The artifact is INT8 RTN (per-channel, symmetric) of SmolLM2-135M, quantized once with the CLI;
both sides load it with the recipe's own loader (its documented way to load), on CPU in float32.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.measure import Figure, Pairs, alternate, run_measured

RECIPE = "int8-rtn"
BARE_SCRIPT = Path(__file__).with_name("bare_torch_perplexity.py")


def evaluation_request(artifact: Path, base: Path, tokens: Path, bos, model: Path, chunks: int) -> dict:
    """The runner's request: the model with the base alongside, generations off."""
    return {"artifact": str(artifact), "base_artifact": str(base), "family": "hf", "recipe": RECIPE,
            "tokenizer": str(model), "tokens_path": str(tokens), "bos": bos, "n_ctx": 512,
            "max_chunks": chunks, "prompts": [], "max_new_tokens": 0}


def benchmark(ws, sizes, log) -> list[Figure]:
    log(f"quantizing {RECIPE} once with the CLI")
    _, row = ws.quantize_job(RECIPE, sizes.hf_chunks, sizes.max_new_tokens)
    artifact = Path(row["artifact"])
    tokens, bos = ws.tokens("hf")
    request = evaluation_request(artifact, ws.model, tokens, bos, ws.model, sizes.hf_chunks)
    req, out = ws.root / "hf.request.json", ws.root / "hf.json"
    req.write_text(json.dumps(request))
    studio_ppl, studio_kld, bare_ppl, same_work = [], [], [], {"seconds": [], "kld": []}
    bare_cmd = [sys.executable, str(BARE_SCRIPT), RECIPE, str(artifact), str(tokens),
                "none" if bos is None else str(bos), str(sizes.hf_chunks)]

    def studio() -> float:
        run = run_measured([sys.executable, "-m", "jobs.evaluation", str(req), str(out)], env=ws.env)
        result = json.loads(out.read_text())
        studio_ppl.append(result["ppl"])
        studio_kld.append(result["divergence"]["kld_mean"])
        return run.seconds

    def bare() -> float:
        """The perplexity-only loop (B), then the loop with the base alongside (the same work)."""
        run = run_measured(bare_cmd, env=ws.env)
        bare_ppl.append(json.loads(run.stdout.strip().splitlines()[-1])["ppl"])
        with_base = run_measured([*bare_cmd, "--base", str(ws.model)], env=ws.env)
        same_work["seconds"].append(with_base.seconds)
        same_work["kld"].append(json.loads(with_base.stdout.strip().splitlines()[-1])["kld"])
        return run.seconds

    pairs = alternate(studio, bare, sizes.repetitions, log, "hf perplexity")
    same = Pairs(pairs.a, same_work["seconds"])
    workload = f"SmolLM2-135M {RECIPE}, torch float32 on CPU, ctx 512, {sizes.hf_chunks} chunks, generations off"
    return [
        pairs.figure("HF perplexity + KLD", "studio evaluation process (PPL + KLD)", "bare torch perplexity loop",
                     "≤ 1.25×", 1.25,
                     note=(f"{workload}. PPL studio {studio_ppl[0]:.4f}, bare {bare_ppl[0]:.4f}. A runs the base "
                           f"alongside for the KLD (twice B's forward passes); see the next row for the same work."),
                     details={"studio_ppl": studio_ppl, "bare_ppl": bare_ppl}),
        same.figure("HF perplexity + KLD, same work", "studio evaluation process (PPL + KLD)",
                    "bare torch loop with the base alongside (PPL + KLD)", "≤ 1.25× (the studio's own cost)", 1.25,
                    note=(f"{workload}. Mean KLD studio {studio_kld[0]:.6f}, bare {same_work['kld'][0]:.6f}. B was "
                          f"measured right after the perplexity-only loop in each repetition."),
                    details={"studio_kld": studio_kld, "bare_kld": same_work["kld"]}),
    ]
