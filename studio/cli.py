"""`python -m studio`: everything the UI does, headless."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from studio.config import Settings
from studio.evaluation.texts import BUILTIN_SAMPLE, DEFAULT_PROMPTS
from studio.ollama import cli as ollama_cli
from studio.storage import open_database

if TYPE_CHECKING:
    from studio.service import Queue


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m studio", description="Quantization Studio, headless")
    p.add_argument("--workspace", help="workspace folder (default: $STUDIO_WORKSPACE or ./workspace)")
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quantize", help="preflight and queue one job per recipe")
    q.add_argument("--model", required=True, help="checkpoint folder or hub id")
    q.add_argument("--recipe", action="append", required=True, help="e.g. gguf:Q4_K_M (repeatable)")
    _add_job_arguments(q)
    e = sub.add_parser("evaluate", help="evaluate GGUF files made elsewhere against the model's F16 base, as rows "
                                        "beside the studio's own (recipe gguf-file)")
    e.add_argument("--model", required=True, help="the checkpoint the files were made from")
    e.add_argument("--gguf", action="append", required=True, type=Path, metavar="FILE",
                   help="a GGUF file under the model folders or the workspace (repeatable)")
    _add_job_arguments(e)

    se = sub.add_parser("sensitivity", help="measure how much each tensor hurts at a low type (the map automatic "
                                            "mixes are chosen from)")
    se.add_argument("--model", required=True, help="checkpoint folder or hub id")
    se.add_argument("--calibration", default="builtin", help="UTF-8 text, disjoint from the evaluation text "
                    "(default: the built-in WikiText-2 slice)")
    se.add_argument("--ctx", type=int, default=512)
    se.add_argument("--chunks", type=int, default=1, help="chunks of the calibration text each tensor is scored on "
                    "(7/8 of each scored)")
    se.add_argument("--family", default="gguf", help="gguf: llama.cpp's types on the GGUF (for gguf-auto); hf: the "
                    "studio's own formats on the checkpoint's linear layers (for hf-auto)")
    se.add_argument("--wait", action="store_true", help="wait for the map and print it, most sensitive first")
    se.add_argument("--json", action="store_true")
    j = sub.add_parser("jobs", help="list jobs")
    j.add_argument("--json", action="store_true")
    r = sub.add_parser("results", help="list results (with their base rows)")
    r.add_argument("--json", action="store_true")
    c = sub.add_parser("cancel", help="cancel a queued or running job")
    c.add_argument("job_id", type=int)
    pl = sub.add_parser("plan", help="memory-fit planner: weights + KV cache per precision vs a memory target")
    pl.add_argument("--params", help="parameter count, e.g. 70B or 135M (or give --model)")
    pl.add_argument("--model", help="checkpoint folder: parameters and KV shape from its config")
    pl.add_argument("--context", type=int, default=8192)
    pl.add_argument("--batch", type=int, default=1)
    pl.add_argument("--memory-gb", type=float, help="memory per GPU (or unified memory), decimal GB")
    pl.add_argument("--kv-type", default="f16", help="KV cache element type: f16, q8_0, q4_0 (llama.cpp) or fp8 (vLLM)")
    pl.add_argument("--full-swa", action="store_true", help="sliding-window layers keep a full-length cache "
                    "(llama.cpp's library default; llama-server, Ollama and vLLM keep only the window)")
    pl.add_argument("--json", action="store_true")
    ex = sub.add_parser("export", help="write a result of the studio's own formats (INT8, FP8, NVFP4, MXFP4) as a "
                                       "compressed-tensors checkpoint, the format vLLM, SGLang and transformers load")
    ex.add_argument("result_id", type=int)
    lg = sub.add_parser("log", help="print a job's log")
    lg.add_argument("job_id", type=int)
    rc = sub.add_parser("recipes", help="list the recipes and their options schema (as the New-job form shows them)")
    rc_fmt = rc.add_mutually_exclusive_group()
    rc_fmt.add_argument("--json", action="store_true", help="a JSON list, one object per recipe")
    rc_fmt.add_argument("--markdown", action="store_true", help="a Markdown table (README's recipe table)")
    ollama_cli.add_parser(sub)
    return p


def _add_job_arguments(q: argparse.ArgumentParser) -> None:
    """What every job takes besides its model and recipes: options, the evaluation protocol, prompts, waiting."""
    q.add_argument("--option", action="append", default=[], metavar="RECIPE.KEY=VALUE",
                   help="override a recipe option, e.g. gguf.threads=2")
    q.add_argument("--eval-text", type=Path, default=BUILTIN_SAMPLE, help="UTF-8 text (default: built-in sample)")
    q.add_argument("--ctx", type=int, default=512)
    chunks = q.add_mutually_exclusive_group()
    chunks.add_argument("--max-chunks", type=int, default=None,
                        help="chunks of the text to evaluate (default: all, unless that would take over 30 min "
                             "here: then as many as take about 10)")
    chunks.add_argument("--whole-text", action="store_true", help="evaluate every chunk, however long it takes")
    q.add_argument("--prompt", action="append", help="sample prompt (repeatable)")
    q.add_argument("--max-new-tokens", type=int, default=64)
    q.add_argument("--again", action="store_true",
                   help="run a recipe again even when an identical finished job measured it already (without it, "
                        "that job's result is shown instead)")
    q.add_argument("--wait", action="store_true", help="wait for the jobs and print their results")
    q.add_argument("--json", action="store_true")


def _parse_overrides(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"error: --option {item!r}: expected RECIPE.KEY=VALUE")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def cmd_quantize(settings: Settings, args, queue: Queue) -> int:
    from studio import service
    from studio.preflight import PreflightError

    req = service.JobRequest(model=args.model, recipes=tuple(args.recipe), eval_text=args.eval_text,
                             n_ctx=args.ctx, max_chunks=args.max_chunks, whole_text=args.whole_text,
                             prompts=tuple(args.prompt) if args.prompt else DEFAULT_PROMPTS,
                             max_new_tokens=args.max_new_tokens, overrides=_parse_overrides(args.option),
                             again=args.again)
    notes: list[str] = []
    repeats: list[service.Repeat] = []
    try:
        job_ids = service.submit(settings, req, queue.enqueue, notes, repeats)
    except PreflightError as exc:
        print("preflight refused:\n" + "\n".join(f"  - {r}" for r in exc.reasons), file=sys.stderr)
        return 2
    for note in notes:
        print(note, file=sys.stderr)
    if job_ids:
        print(f"queued job(s): {', '.join(f'#{i}' for i in job_ids)}", file=sys.stderr)
    if not args.wait:
        return 0
    measured = [r.job_id for r in repeats]  # shown with the new ones
    jobs = _wait(settings, job_ids, queue)
    if isinstance(jobs, int):
        return jobs
    rows = service.result_rows(settings, measured + job_ids) + service.failed_rows(jobs)
    _print_rows(rows, args.json)
    return 0 if all(j.state == "done" for j in jobs) else 1


def _wait(settings: Settings, job_ids: list[int], queue: Queue):
    """The jobs once finished (run here when no studio or worker runs them), or the exit status of a Ctrl-C."""
    from studio import service
    consumer = None
    try:
        if job_ids and not settings.queue_url and not queue.consumer_alive(settings):
            consumer = queue.start_consumer(settings)  # no studio running: run the jobs here
        return service.wait_for(settings, job_ids, on_change=lambda js: _print_progress(js))
    except KeyboardInterrupt:
        return _interrupted(settings, job_ids, queue if consumer is not None else None)
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)  # after a Ctrl-C: until the cancelled jobs have stopped


def cmd_sensitivity(settings: Settings, args, queue: Queue) -> int:
    from studio import sensitivity
    from studio.preflight import PreflightError
    try:
        job_id = sensitivity.submit(settings, sensitivity.MapRequest(args.model, args.calibration, args.ctx,
                                                                     args.chunks, args.family), queue.enqueue)
    except PreflightError as exc:
        print("preflight refused:\n" + "\n".join(f"  - {r}" for r in exc.reasons), file=sys.stderr)
        return 2
    print(f"queued job #{job_id}", file=sys.stderr)
    if not args.wait:
        return 0
    jobs = _wait(settings, [job_id], queue)
    if isinstance(jobs, int):
        return jobs
    if jobs[0].state != "done":
        print(f"job #{job_id} {jobs[0].state}: {jobs[0].error}", file=sys.stderr)
        return 1
    found = next(m for m in sensitivity.maps(settings) if m.job_id == job_id)
    ranked = sorted(found.added_kld.items(), key=lambda kv: -kv[1])
    if args.json:
        print(json.dumps({"sensitivity_job": job_id, "family": found.family, "model": found.model,
                          "high_type": found.high_type, "relative_error": found.relative_error,
                          "baseline_kld": found.baseline_kld, "tokens_scored": found.tokens_scored,
                          "seconds": found.seconds, "tensors": [{"name": n, "low_type": found.low_types[n],
                                                                 "added_kld": kld} for n, kld in ranked]}, indent=2))
    else:
        for name, kld in ranked:
            print(f"{name:<32} {found.low_types[name]:<6} +{kld:.5f} KLD")
    return 0


def _interrupted(settings: Settings, job_ids: list[int], ran_here: Queue | None) -> int:
    """Ctrl-C while waiting: jobs this command runs itself (`ran_here`, their queue) are cancelled (nothing
    would run them once it exits); jobs a studio or worker runs go on."""
    if ran_here is not None:
        ran_here.cancel_here(settings, job_ids)  # supervised here: stopped without waiting for the database
        said = [_cancel(settings, i) for i in job_ids]
        print("interrupted: " + "; ".join(said), file=sys.stderr)
    else:
        print(f"stopped waiting; job(s) {', '.join(f'#{i}' for i in job_ids)} go on in the studio "
              "(python -m studio jobs, python -m studio cancel JOB_ID)", file=sys.stderr)
    return 130


def _cancel(settings: Settings, job_id: int) -> str:
    from studio import service
    try:
        return service.cancel(settings, job_id)
    except Exception as exc:  # the database is unreachable or locked: the job is stopped here all the same
        return f"job #{job_id}: cancel not stored ({type(exc).__name__}: {exc}); stopping it here"


def _print_progress(jobs) -> None:
    for j in jobs:
        print(f"  job #{j.id} {j.recipe}: {j.state} / {j.stage} {100 * j.progress:.0f}%"
              + (f" — {j.error}" if j.error else ""), file=sys.stderr)


def _print_rows(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        if r.get("status") != "done":
            print(f"job #{r['job_id']} {r['recipe']}: {r['status']} — {r.get('error')}")
            continue
        delta = f" ({r['ppl_delta_pct']:+.2f} %)" if r.get("ppl_delta_pct") is not None else ""
        print(f"{r['recipe']:<20} {r['size_bytes'] / 2**20:8.1f} MiB {r['bpw']:5.2f} bpw  PPL {r['ppl']:.4f}{delta}  "
              f"prefill {r['prefill_tok_s']:.0f} tok/s  decode {r['decode_tok_s']:.1f} tok/s  {r['artifact']}"
              + _serving_text(r.get("serving")))


def _serving_text(check: dict | None) -> str:
    """The serving check in a line's words: vLLM's perplexity and its gap, or why vLLM did not run it."""
    if not check:
        return ""
    if check["ppl"] is None:
        return f"\n    vLLM: ✗ {check['reason']} (needs {check['gpu_needs']})"
    return f"\n    vLLM: ✓ PPL {check['ppl']:.4f} ({check['ppl_gap_pct']:+.2f} %); serve: {check['command']}"


def cmd_jobs(settings: Settings, args) -> int:
    from studio import service
    jobs = service.list_jobs(settings)
    if args.json:
        print(json.dumps([j.model_dump(mode="json") for j in jobs], indent=2, default=str))
    else:
        for j in jobs:
            print(f"#{j.id:<5} {j.state:<10} {j.stage:<14} {100 * j.progress:5.1f}%  {j.recipe:<14} {j.model}"
                  + (f"  — {j.error}" if j.error else ""))
    return 0


def cmd_plan(settings: Settings, args) -> int:
    from studio import planner, service
    try:
        model = service.plan_model(settings, args.params, args.model)
        rows = planner.plan(model, args.context, args.batch, args.memory_gb, args.kv_type, not args.full_swa)
    except (planner.PlanError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    print(planner.describe(model, args.context, args.batch, args.kv_type, not args.full_swa))
    for r in rows:
        fit = "" if r.fits is None else (f" needs {r.gpus_needed} × {r.memory_gb:g} GB" if not r.fits else
                                         f" fits, tight ({100 * r.free_share:.0f} % free)" if r.tight else " fits")
        print(f"  {r.format:<12} {r.bits_per_weight:5.2f} bits/weight  weights {r.weights_gb:9.2f} GB  "
              f"KV {r.kv_cache_gb:7.2f} GB  runtime {r.runtime_gb:5.2f} GB  total {r.total_gb:9.2f} GB{fit}")
    return 0


def _recipe_rows() -> list[dict]:
    """Every recipe of the registry, sorted by name; one that failed to import is unavailable, with its error."""
    from studio import recipes
    rows = []
    for key, entry in recipes.entries().items():
        r = entry.recipe
        if r is None:
            rows.append({"name": key, "available": False, "error": entry.import_error, "module": entry.module,
                         "title": None, "description": None, "family": None, "variant": None, "options": []})
            continue
        rows.append({"name": r.name, "available": True, "error": None, "module": entry.module, "title": r.title,
                     "description": r.description, "family": getattr(r.family, "name", r.family),
                     "variant": r.variant.option if r.variant is not None else None,
                     "options": [{"name": o.name, "kind": o.kind, "default": _jsonable(o.default), "help": o.help,
                                  "choices": _jsonable(o.choices), "minimum": o.minimum, "maximum": o.maximum}
                                 for o in r.options]})
    return sorted(rows, key=lambda row: row["name"])


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _recipe_label(row: dict) -> str:
    return f"{row['name']}:{row['variant'].upper()}" if row["variant"] else row["name"]


def _show(value, empty: str = "—") -> str:
    """An option value as a person reads it (and as `--option` accepts it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return empty
    return str(value)


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _recipes_markdown(rows: list[dict]) -> str:
    lines = ["| recipe | family | what it is | options (default) |", "|---|---|---|---|"]
    for row in rows:
        if not row["available"]:
            lines.append(f"| `{row['name']}` | — | {_md_cell('unavailable: ' + str(row['error']))} | — |")
            continue
        options = ", ".join(f"`{o['name']}` ({_md_cell(_show(o['default']))})" for o in row["options"]) or "—"
        lines.append(f"| `{_recipe_label(row)}` | {_md_cell(row['family'])} | {_md_cell(row['description'])} "
                     f"| {options} |")
    return "\n".join(lines) + "\n"


def _recipes_text(rows: list[dict]) -> str:
    out = []
    for row in rows:
        if not row["available"]:
            out += [f"{row['name']}: unavailable ({row['module']}): {row['error']}", ""]
            continue
        out.append(f"{_recipe_label(row)} — {row['title']} (family {row['family']})")
        out.append(f"    {row['description']}")
        if row["variant"]:
            out.append(f"    {_recipe_label(row)} sets option '{row['variant']}'")
        out.append(f"    options (--option {row['name']}.NAME=VALUE):" if row["options"] else "    no options")
        for o in row["options"]:
            limits = []
            if o["choices"]:
                limits.append("one of " + ", ".join(_show(c) for c in o["choices"]))
            if o["minimum"] is not None or o["maximum"] is not None:
                lo = "" if o["minimum"] is None else f"{o['minimum']:g}"
                hi = "" if o["maximum"] is None else f"{o['maximum']:g}"
                limits.append(f"{lo}…{hi}")
            out.append(f"      {o['name']} = {_show(o['default'], empty='(empty)')}  [{o['kind']}"
                       + "".join(f"; {x}" for x in limits) + "]" + (f"  {o['help']}" if o["help"] else ""))
        out.append("")
    return "\n".join(out)


def cmd_export(settings: Settings, args) -> int:
    from studio import service
    try:
        folder, command = service.export_result(settings, args.result_id)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    print(f"{folder}\nserve it: {command}")
    return 0


def cmd_recipes(args) -> int:
    rows = _recipe_rows()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif args.markdown:
        print(_recipes_markdown(rows), end="")
    else:
        print(_recipes_text(rows), end="")
    return 0


def main(queue: Queue, argv: list[str] | None = None) -> int:
    """`queue` is the layer that runs jobs (jobs.queue), handed in by the entry point, studio/__main__.py."""
    args = _parser().parse_args(argv)
    if args.command == "recipes":  # reads the registry only: no workspace, database or queue
        return cmd_recipes(args)
    settings = Settings.from_env(args.workspace)
    settings.ensure_dirs()
    open_database(settings.db_url)
    from studio import service
    if args.command == "quantize":
        return cmd_quantize(settings, args, queue)
    if args.command == "evaluate":  # a job per file: recipe gguf-file, the file its variant
        args.recipe = [f"gguf-file:{path.expanduser().absolute()}" for path in args.gguf]
        return cmd_quantize(settings, args, queue)
    if args.command == "jobs":
        return cmd_jobs(settings, args)
    if args.command == "sensitivity":
        return cmd_sensitivity(settings, args, queue)
    if args.command == "results":
        _print_rows(service.result_rows(settings, include_base=True), args.json)
        return 0
    if args.command == "cancel":
        try:
            print(service.cancel(settings, args.job_id))
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
        return 0
    if args.command == "ollama":
        return ollama_cli.run(settings, args, queue)
    if args.command == "plan":
        return cmd_plan(settings, args)
    if args.command == "export":
        return cmd_export(settings, args)
    if args.command == "log":
        print("\n".join(service.job_log(settings, args.job_id, tail=100000)))
        return 0
    return 2
