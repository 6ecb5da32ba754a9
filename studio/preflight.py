"""Preflight: before anything is queued, say what will happen or exactly why it cannot."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from studio import hardware, recipes, timing
from studio.config import Settings
from studio.memory import Budget
from studio.evaluation.protocol import Protocol, ProtocolError
from studio.evaluation.tokens import cached_token_count
from studio.evaluation.texts import TextError, load_text, prompt_problems, text_sha
from studio.models import ModelError, ModelFacts, confine, read_model_facts, resolve_model
from studio.families import Family
from studio.recipes.base import OptionError, Recipe


class PreflightError(ValueError):
    """Every reason the request cannot run, one per line."""

    def __init__(self, reasons: list[str]):
        super().__init__("\n".join(reasons))
        self.reasons = reasons


@dataclass
class PlannedJob:
    recipe: Recipe
    options: dict
    label: str
    output_bytes: int
    memory_stage: str
    memory_bytes: int
    # From the jobs this machine ran, else the recipe's prior; None for a recipe with neither (bnb, GPTQModel).
    expected: timing.Expected | None = None

    def time_line(self) -> str:
        if self.expected is None:
            return f"time not measured on this machine yet (the first {self.label} job here measures it)"
        return f"about {timing.spoken(self.expected.seconds)} ({self.expected.basis})"


@dataclass
class Plan:
    model: ModelFacts
    text_path: Path
    text_sha: str
    protocol: Protocol
    jobs: list[PlannedJob]
    disk_needed: int
    disk_free: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Model: {self.model.path} ({self.model.architecture}, {self.model.n_params / 1e6:.1f} M parameters)",
                 f"Evaluation: {self.text_path.name}, context {self.protocol.n_ctx}, "
                 f"{'all' if self.protocol.max_chunks is None else f'at most {self.protocol.max_chunks}'} chunks",
                 f"Disk: needs about {self.disk_needed / 2**20:.0f} MiB, {self.disk_free / 2**30:.1f} GiB free"]
        lines += [f"Job: {j.label} → about {j.output_bytes / 2**20:.0f} MiB; memory about "
                  f"{j.memory_bytes / 2**30:.1f} GiB at its {j.memory_stage} stage; {j.time_line()}" for j in self.jobs]
        return "\n".join(lines + self.notes)


MAX_NEW_TOKENS = 512
# Model names, recipe specs, option keys and values, paths: longer than any real one (PATH_MAX), and a bound on
# what a message may repeat back.
MAX_FIELD_CHARS = 4096


def run_preflight(settings: Settings, model_name: str, recipe_specs: list[str], text_path: Path,
                  n_ctx: int, max_chunks: int | None, overrides: dict[str, str] | None = None,
                  max_new_tokens: int = 64, prompts: list[str] | tuple[str, ...] = (),
                  whole_text: bool = False) -> Plan:
    overrides = overrides or {}
    if oversized := _oversized_fields(model_name, recipe_specs, overrides, text_path):
        raise PreflightError(oversized)
    prompts = [p for p in prompts if p.strip()]  # as the job stores them, so prompt numbers match
    reasons = prompt_problems(prompts)
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        reasons.append(f"max new tokens must be between 1 and {MAX_NEW_TOKENS} (got {max_new_tokens})")
    generation_ok = not reasons  # the prompts' tokens are worth counting against the context
    model = _model_or_reason(settings, model_name, reasons)
    tokenizer = _tokenizer(model)
    protocol = _protocol_or_reason(n_ctx, max_chunks, reasons)
    sha = _text_or_reason(text_path, protocol, tokenizer, reasons)
    if not recipe_specs:
        reasons.append("no recipe chosen: pick at least one quantization type")
    hw = hardware.detect(settings.workspace)
    planned: list[PlannedJob] = []
    notes: list[str] = []
    for spec in recipe_specs:
        if (job := _plan_recipe(settings, spec, overrides, model, hw, reasons, notes)) is not None:
            planned.append(job)
    if model is not None and generation_ok:
        reasons += _prompt_token_problems(model, tokenizer, prompts, {j.recipe.family for j in planned},
                                          max_new_tokens)
    if model is None or reasons:
        raise PreflightError(reasons)
    _expect(settings, model, planned, sha, text_path, protocol, hw)
    if max_chunks is None and not whole_text and (sooner := _first_result_sooner(planned, protocol, notes)):
        protocol = sooner
        _expect(settings, model, planned, sha, text_path, protocol, hw)
    needed = sum(j.output_bytes for j in planned) + _intermediate_bytes(settings, model, planned)
    free = shutil.disk_usage(settings.workspace).free
    if needed > free:
        raise PreflightError([f"not enough disk in {settings.workspace}: about {needed / 2**20:.0f} MiB needed "
                              f"(intermediate + outputs), {free / 2**20:.0f} MiB free"])
    return Plan(model, text_path, sha, protocol, planned, needed, free, notes)


def recheck_job(settings: Settings, model: ModelFacts, recipe: Recipe, options: dict, prompts: list[str],
                max_new_tokens: int) -> dict:
    """The job runner's preflight: what may have changed since submit (a path option's file removed, or relinked
    outside the allowed folders; a row stored before paths were resolved) and the prompts, which would otherwise
    fail only after the quantization. Returns the options with their paths resolved: the files checked here are
    the files the job reads, even if a link is swapped afterwards."""
    reasons = [f"{recipe.name}.{name}: {value!r} is stored as a relative path, which no longer says where the file "
               "is: submit the job again" for name, value in recipe.user_paths(options).items()
               if not Path(value).is_absolute()]
    if not reasons:
        options, reasons = _option_problems(settings, recipe, model, options)
    if not (prompt_reasons := prompt_problems(prompts)):
        prompt_reasons = _prompt_token_problems(model, _tokenizer(model), prompts, {recipe.family}, max_new_tokens)
    reasons += prompt_reasons
    if reasons:
        raise PreflightError(reasons)
    return options


def _oversized_fields(model_name: str, recipe_specs: list[str], overrides: dict[str, str],
                      text_path: Path) -> list[str]:
    fields = [("model", model_name), ("evaluation text path", str(text_path))]
    fields += [("recipe", spec) for spec in recipe_specs]
    fields += [(f"option {key[:60]}", f"{key}={value}") for key, value in overrides.items()]
    return [f"{what} is {len(value):,} characters long; the limit is {MAX_FIELD_CHARS:,}"
            for what, value in fields if len(value) > MAX_FIELD_CHARS]


def _plan_recipe(settings: Settings, spec: str, overrides: dict[str, str], model: ModelFacts | None,
                 hw: hardware.Hardware, reasons: list[str], notes: list[str]) -> PlannedJob | None:
    """One recipe spec checked against the model and this machine; its reasons and notes are appended."""
    try:
        recipe, options = recipes.parse_recipe_spec(spec, overrides)
    except OptionError as exc:
        reasons.append(f"{spec}: {exc}")
        return None
    if (why := hardware.check(recipe.requirements_for(options), hw)) is not None:
        reasons.append(f"{spec}: not available on this machine: {why}")
        return None
    if model is None:
        return None
    options, problems = _option_problems(settings, recipe, model, options)
    if problems:  # the sizes are counted from valid options only (a bad tensor type has no size)
        reasons += [f"{spec}: {r}" for r in problems]
        return None
    reasons += [f"{spec}: {r}" for r in _memory_problems(recipe, model, options, hw)]
    notes += [f"{spec}: note: {n}" for n in recipe.advice(options, hw)]
    return PlannedJob(recipe, options, recipe.label(options), recipe.estimate_output_bytes(model, options),
                      *heaviest_stage(recipe, model, options, hw))


def _option_problems(settings: Settings, recipe: Recipe, model: ModelFacts, options: dict) -> tuple[dict, list[str]]:
    """The options with every user path resolved and confined (stored so, the job reads the very file checked here,
    whatever the working directory of the process that runs it), and the recipe's reasons against them."""
    roots = (settings.workspace, *settings.model_dirs)
    try:
        options = {**options, **{name: str(confine(Path(value), roots, f"{recipe.name}.{name}"))
                                 for name, value in recipe.user_paths(options).items()}}
    except ModelError as exc:
        return options, [str(exc)]
    return options, recipe.preflight(model, options, settings)


def _memory_problems(recipe: Recipe, model: ModelFacts, options: dict, hw: hardware.Hardware) -> list[str]:
    """Refuse, with numbers, a job whose heaviest stage will not fit (in VRAM on a GPU, else RAM)."""
    stage, need = heaviest_stage(recipe, model, options, hw)
    have, where = memory_limit(recipe, hw)
    if need <= have:
        return []
    return [f"needs about {need / 2**30:.1f} GiB of {where} at its {stage} stage "
            f"({model.n_params / 1e9:.2f} B parameters), {have / 2**30:.1f} GiB here"]


def heaviest_stage(recipe: Recipe, model: ModelFacts, options: dict, hw: hardware.Hardware) -> tuple[str, int]:
    stages = recipe.memory_by_stage(model, options, Budget(hw.ram_available_bytes, _runs_on_gpu(recipe, hw)))
    stage = max(stages, key=stages.get)
    return stage.value, stages[stage]


def memory_limit(recipe: Recipe, hw: hardware.Hardware) -> tuple[int, str]:
    """What a job's memory is compared with: the largest GPU's memory for a family that runs there, else the
    RAM available now (anonymous memory: mapped files are page cache the kernel can evict)."""
    if _runs_on_gpu(recipe, hw):
        return max(d.memory_bytes for d in hw.cuda), "GPU memory"
    return hw.ram_available_bytes, "available RAM"


def _runs_on_gpu(recipe: Recipe, hw: hardware.Hardware) -> bool:
    return bool(hw.cuda) and recipe.family.memory_on_gpu


# A job expected to take longer than this gets a note with the chunk count that gives a first result sooner.
LONG_JOB_SECONDS = 30 * 60
FIRST_RESULT_SECONDS = 10 * 60


def _expect(settings: Settings, model: ModelFacts, planned: list[PlannedJob], sha: str, text_path: Path,
            protocol: Protocol, hw: hardware.Hardware) -> None:
    """Each job's expected time: scaled from the last such job here, else from its recipe's prior (CPU only)."""
    for job in planned:
        tokens = _evaluated_tokens(settings, model, job.recipe.family, sha, text_path, protocol)
        job.expected = timing.expected(settings.db_url, job.label, model.n_params, tokens)
        prior = job.recipe.time_prior(job.options)
        if job.expected is None and prior is not None and not _runs_on_gpu(job.recipe, hw):
            job.expected = timing.from_prior(prior, model.n_params, tokens, timing.machine_gflops(settings.cache_dir))


def _first_result_sooner(planned: list[PlannedJob], protocol: Protocol, notes: list[str]) -> Protocol | None:
    """The automatic protocol: over all chunks a big model takes hours on a CPU, so when a job of the plan is
    expected to take over LONG_JOB_SECONDS, evaluate the chunks that bring every job's result within about
    FIRST_RESULT_SECONDS (at least 2), and say so; the whole text stays one option away."""
    long = [j for j in planned if j.expected and j.expected.seconds > LONG_JOB_SECONDS]
    if not long:
        return None
    chunks = max(min(j.expected.tokens_within(FIRST_RESULT_SECONDS) // protocol.n_ctx for j in long), 2)
    slowest = max(long, key=lambda j: j.expected.seconds)
    first = slowest.expected.fixed_seconds + slowest.expected.seconds_per_token * protocol.n_ctx * chunks
    notes.append(f"note: evaluating {chunks} chunks, for a first result in about "
                 f"{timing.spoken(first)}: over the whole text {slowest.label} would take about "
                 f"{timing.spoken(slowest.expected.seconds)} here ({slowest.expected.basis}); ask for the whole "
                 "text (--whole-text) or a chunk count to choose")
    return Protocol(protocol.n_ctx, chunks)


# English text in the tokenizers of Llama-family models: about 4 bytes a token (used only until the text has
# been tokenized for this model once; then the cached count is exact).
BYTES_PER_TOKEN = 4


def _evaluated_tokens(settings: Settings, model: ModelFacts, family: Family, sha: str, text_path: Path,
                      protocol: Protocol) -> int:
    """The tokens the job will evaluate: its chunks times the context."""
    cached = cached_token_count(settings.model_cache_dir / model.key, family.token_stem(sha))
    tokens = cached if cached is not None else text_path.stat().st_size // BYTES_PER_TOKEN
    chunks = max(tokens // protocol.n_ctx, 2)
    return protocol.n_ctx * (chunks if protocol.max_chunks is None else min(chunks, protocol.max_chunks))


def _intermediate_bytes(settings: Settings, model: ModelFacts, planned: list[PlannedJob]) -> int:
    """The base artifacts still to be made, once per family (shared by that family's jobs)."""
    cache = settings.model_cache_dir / model.key
    return sum(family.intermediate_bytes(model, cache) for family in {j.recipe.family for j in planned})


def _model_or_reason(settings: Settings, name: str, reasons: list[str]) -> ModelFacts | None:
    try:
        return read_model_facts(resolve_model(name, settings), settings)
    except ModelError as exc:
        reasons.append(str(exc))
        return None


def _protocol_or_reason(n_ctx: int, max_chunks: int | None, reasons: list[str]) -> Protocol | None:
    try:
        return Protocol(int(n_ctx), None if max_chunks in (None, "") else int(max_chunks))
    except (ProtocolError, TypeError, ValueError) as exc:
        reasons.append(str(exc))
        return None


def _text_or_reason(path: Path, protocol: Protocol | None, tokenizer, reasons: list[str]) -> str | None:
    try:
        text = load_text(path)
    except TextError as exc:
        reasons.append(str(exc))
        return None
    if protocol is not None and (why := _too_short(text, protocol, tokenizer)):
        reasons.append(why)
    return text_sha(path)


# A prefix this many characters per needed token surely holds enough tokens, if the whole text does.
PREFIX_CHARS_PER_TOKEN = 32


def _too_short(text: str, protocol: Protocol, tokenizer) -> str | None:
    """Two chunks of n_ctx tokens are needed. Counted with the model's tokenizer (on a prefix, to stay
    fast); without one, bytes bound the count: every token covers at least one byte, while one character
    (CJK, an emoji) can be several tokens, so characters bound nothing."""
    needed = 2 * protocol.n_ctx
    n_bytes = len(text.encode("utf-8"))
    if n_bytes < needed:
        return (f"evaluation text is too short: {n_bytes} bytes make at most {n_bytes} tokens, while context "
                f"{protocol.n_ctx} needs {needed} (two chunks): use a longer text or a smaller context")
    prefix = text[:needed * PREFIX_CHARS_PER_TOKEN]
    if tokenizer is None or len(prefix) < len(text):
        return None
    n_tokens = len(tokenizer.encode(prefix, add_special_tokens=False).ids)
    if n_tokens >= needed:
        return None
    return (f"evaluation text is too short: {n_tokens} tokens with this model's tokenizer, while context "
            f"{protocol.n_ctx} needs {needed} (two chunks): use a longer text or a smaller context")


def _prompt_token_problems(model: ModelFacts, tokenizer, prompts: list[str], families: set[Family],
                           max_new_tokens: int) -> list[str]:
    """Each prompt, as the generation feeds it (through the chat template), against the tightest context the
    job's recipes generate in; uncounted without a tokenizer (the runner then reports what fails)."""
    limits = [limit for family in families if (limit := family.prompt_limit(model, max_new_tokens))]
    if tokenizer is None or not limits:
        return []
    most, why = min(limits)
    as_generated = _chat_renderer(model.path)
    counts = [len(tokenizer.encode(as_generated(p), add_special_tokens=False).ids) if as_generated
              else len(tokenizer.encode(p).ids) for p in prompts]
    return [f"prompt {i} has {n:,} tokens with this model's tokenizer and chat template; at most {most:,} fit, "
            f"as {why}: shorten it" for i, n in enumerate(counts, 1) if n > most]


def _chat_renderer(path: Path):
    """prompt -> the text generation tokenizes: one user message through the model's chat template, rendered in
    a sandbox as llama-cpp-python and transformers render it (special tokens included, so no more are added);
    None when the model has no template, or one that does not compile (the generation reports that itself)."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    found = _chat_template(path)
    if found is None:
        return None
    source, bos, eos = found
    try:
        template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                 extensions=[loopcontrols]).from_string(source)
    except Exception:  # a syntax error, or a template nested too deeply to compile
        return None

    def render(prompt: str) -> str:
        try:
            return template.render(messages=[{"role": "user", "content": prompt}], bos_token=bos, eos_token=eos,
                                   add_generation_prompt=True, raise_exception=_template_refused,
                                   strftime_now=lambda fmt: datetime.now().strftime(fmt))
        except Exception:  # whatever a template raises: the prompt alone, a lower bound of what is generated from
            return prompt
    return render


def _chat_template(path: Path) -> tuple[str, str, str] | None:
    """(template, bos token, eos token) as the GGUF converter and transformers take them, or None."""
    try:
        config = json.loads((path / "tokenizer_config.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        config = {}
    config = config if isinstance(config, dict) else {}
    jinja = path / "chat_template.jinja"
    template = jinja.read_text(encoding="utf-8", errors="replace") if jinja.is_file() else config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one is what generation uses
        template = next((t.get("template") for t in template if isinstance(t, dict) and t.get("name") == "default"),
                        None)
    if not isinstance(template, str):
        return None
    return template, _token_text(config.get("bos_token")), _token_text(config.get("eos_token"))


def _token_text(token) -> str:
    """A special token as tokenizer_config.json gives it: a string, or an object with its content."""
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) else ""


def _template_refused(message: str):
    raise ValueError(message)


def _tokenizer(model: ModelFacts | None):
    """The model's fast tokenizer, or None when it has none the `tokenizers` library can read."""
    path = model.path / "tokenizer.json" if model else None
    if path is None or not path.is_file():
        return None
    from tokenizers import Tokenizer
    try:
        return Tokenizer.from_file(str(path))
    except Exception:  # an unreadable tokenizer is the runner's to report, with its own error
        return None
