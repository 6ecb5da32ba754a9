"""Bad input, table-driven: each case is refused before anything is queued, with a specific message,
through the CLI (`python -m studio quantize`) and through the service call the New-job tab makes
(`service.preflight`, its reasons rendered the way the tab renders them)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import jobs.queue
from components.formatting import esc, messages
from studio import cli, service
from studio.preflight import PreflightError


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # a fragment of the message the user sees; {placeholders} are filled from `inputs`
    model: str = "{tiny}"
    recipes: tuple[str, ...] = ("gguf:Q8_0",)
    options: tuple[str, ...] = ()  # RECIPE.KEY=VALUE
    text: str = "{text}"
    ctx: int = 128
    max_chunks: int | None = 2
    max_new: int = 8


CASES = [
    # the model
    Case("missing path", "model path {bad}/missing does not exist", model="{bad}/missing"),
    Case("a file, not a folder", "is a file, not a checkpoint folder", model="{bad}/notes.txt"),
    Case("a GGUF file", "is a GGUF file: the studio quantizes from the Hugging Face checkpoint",
         model="{bad}/model.gguf"),
    Case("a truncated GGUF", "is a truncated or corrupt GGUF file", model="{bad}/cut.gguf"),
    Case("no config.json", "has no config.json", model="{bad}/no-config"),
    Case("config.json not JSON", "config.json is not valid JSON", model="{bad}/bad-json"),
    Case("BERT for GGUF", "BertForMaskedLM is not a causal language model; GGUF recipes need one", model="{bad}/bert"),
    Case("architecture llama.cpp cannot convert", "llama.cpp's converter does not know the architecture "
         "FrobnicatorForCausalLM", model="{bad}/frobnicator"),
    Case("corrupt safetensors header", "model.safetensors has a corrupt safetensors header", model="{bad}/corrupt"),
    Case("truncated safetensors", "model.safetensors is truncated: header promises", model="{bad}/truncated"),
    Case("no weight files", "has no weight files (*.safetensors)", model="{bad}/no-weights"),
    Case("tensor without data_offsets", 'model.safetensors: tensor "w" in the safetensors header has no data_offsets',
         model="{bad}/st-no-offsets"),
    Case("tensor entry a list", 'model.safetensors: tensor "w" in the safetensors header is a JSON list, not an '
         "object with dtype, shape and data_offsets", model="{bad}/st-list-entry"),
    Case("header nested deeply", "model.safetensors: the safetensors header is not valid JSON (nested too deeply",
         model="{bad}/st-deep"),
    Case("shape not integers", 'tensor "w" in the safetensors header has shape ["4", 8]; expected a list of '
         "non-negative integers", model="{bad}/st-string-shape"),
    Case("negative shape", 'tensor "w" in the safetensors header has shape [-4, -8]; expected a list of '
         "non-negative integers", model="{bad}/st-negative-shape"),
    Case("offsets not dtype x shape", 'tensor "w" in the safetensors header is F32 of shape [4, 8], 128 bytes, but '
         "its data_offsets [0, 64] span 64 bytes", model="{bad}/st-short-offsets"),
    Case("offsets overlapping", 'model.safetensors: tensor "v" starts at byte 0 of the data, but the tensor before '
         "it ends at byte 128: the safetensors header's data_offsets overlap", model="{bad}/st-overlap"),
    Case("bytes after the last tensor", "model.safetensors has 64 bytes after its last tensor",
         model="{bad}/st-trailing"),
    Case("config.json a list", "config.json is a JSON list, not an object of settings", model="{bad}/config-list"),
    Case("text_config null", "config.json: text_config is null; expected an object with the text model's settings",
         model="{bad}/text-config-null"),
    Case("hidden_size a string", 'config.json: hidden_size is "256"; expected a positive integer',
         model="{bad}/hidden-string"),
    Case("num_attention_heads a float", "config.json: text_config.num_attention_heads is 4.5; expected a positive "
         "integer", model="{bad}/heads-float"),
    Case("config.json not UTF-8", "config.json is not UTF-8 text (byte 20", model="{bad}/config-latin1"),
    Case("pickle weights only", "has weights only as pickle files (pytorch_model.bin); pickle can run code when "
         "loaded, so it is refused", model="{bad}/pickle"),
    Case("remote code in config", "remote-code needs trust_remote_code", model="{bad}/remote-code"),
    Case("remote code as .py", "py-code needs trust_remote_code", model="{bad}/py-code"),
    Case("hub id while offline", "'nobody/not-cached-anywhere' is not in the Hugging Face cache and the studio is "
         "offline", model="nobody/not-cached-anywhere"),
    Case("neither folder nor hub id", "'not a model!' is neither an existing folder nor a hub id",
         model="not a model!"),
    Case("no model", "no model given", model=" "),
    Case("outside the allowed folders", "is outside the allowed folders", model="{outside}"),
    Case("a file linking outside", "symlinked/config.json links to {outside}/config.json, outside the allowed "
         "folders", model="{bad}/symlinked"),
    # recipes and their options
    Case("unknown recipe", "unknown recipe 'frobnicate'", recipes=("frobnicate",)),
    Case("unknown GGUF type", "type: 'Q9_X' is not one of", recipes=("gguf:Q9_X",)),
    Case("GPTQ bits=5", "bits: '5' is not one of 2, 3, 4, 8", recipes=("gptq",), options=("gptq.bits=5",)),
    Case("GPTQ group size 7", "group_size: '7' is not one of 32, 64, 128, -1", recipes=("gptq",),
         options=("gptq.group_size=7",)),
    Case("negative threshold", "threshold: -1.0 is below the minimum 0.0", recipes=("bnb-int8",),
         options=("bnb-int8.threshold=-1",)),
    Case("not a number", "damp_percent: 'lots' is not a valid float", recipes=("gptq",),
         options=("gptq.damp_percent=lots",)),
    Case("unknown option", "gptq has no option 'colour'", recipes=("gptq",), options=("gptq.colour=red",)),
    Case("native NVFP4 without Blackwell", "run nvfp4 with execution=emulated", recipes=("nvfp4",),
         options=("nvfp4.execution=native",)),
    Case("option value of 5,000 characters", "option gguf.tensor_types is 5,018 characters long; the limit is 4,096",
         options=("gguf.tensor_types=" + "a" * 5000,)),
    Case("recipe spec of 5,000 characters", "recipe is 5,005 characters long; the limit is 4,096",
         recipes=("gguf:" + "Q" * 5000,)),
    Case("model name of 5,000 characters", "model is 5,000 characters long; the limit is 4,096", model="m" * 5000),
    Case("model name too long for the file system", "cannot be looked up: File name too long", model="./" + "m" * 300),
    # the protocol
    Case("ctx 0", "context length 0 is too small (minimum 16)", ctx=0),
    Case("ctx too large", "context length 100000 is too large", ctx=100_000),
    Case("max chunks 0", "max chunks must be at least 1 (got 0)", max_chunks=0),
    Case("max new tokens 0", "max new tokens must be between 1 and 512 (got 0)", max_new=0),
    # the evaluation text
    Case("text missing", "evaluation text {texts}/missing.txt does not exist", text="{texts}/missing.txt"),
    Case("text empty", "evaluation text is empty", text="{texts}/empty.txt"),
    Case("text of a few bytes", "evaluation text is too short: 11 bytes make at most 11 tokens, while context 128 "
         "needs 256", text="{texts}/tiny.txt"),
    Case("text shorter than two contexts", "tokens with this model's tokenizer, while context 128 needs 256",
         text="{texts}/short.txt"),
    Case("text not UTF-8", "evaluation text is not UTF-8 (byte 2", text="{texts}/latin1.txt"),
    Case("text of 1 GB", "evaluation text is 1024 MiB; the limit is 64 MiB", text="{texts}/huge.txt"),
]


def _write_gguf(path: Path) -> None:
    from gguf import GGUFWriter
    writer = GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.ones((64, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# One float32 tensor of 4 x 8: its 128 bytes, as a well-formed header describes them.
TENSOR = {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 128]}


def _write_safetensors(folder: Path, header: dict | None, data: bytes = bytes(128), raw: bytes | None = None) -> None:
    """A real .safetensors file: 8-byte little-endian header length, the JSON header (or `raw` bytes), the data."""
    head = raw if raw is not None else json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(len(head).to_bytes(8, "little") + head + data)


def _bad_headers(bad: Path, tiny: Path) -> None:
    headers = {
        "st-no-offsets": {"w": {"dtype": "F32", "shape": [4, 8]}},
        "st-list-entry": {"w": ["F32", [4, 8], [0, 128]]},
        "st-string-shape": {"w": {**TENSOR, "shape": ["4", 8]}},
        "st-negative-shape": {"w": {**TENSOR, "shape": [-4, -8]}},
        "st-short-offsets": {"w": {**TENSOR, "data_offsets": [0, 64]}},
        "st-overlap": {"w": TENSOR, "v": TENSOR},
    }
    for name, header in headers.items():
        _write_safetensors(_checkpoint(bad / name, tiny, weights=False), header)
    _write_safetensors(_checkpoint(bad / "st-deep", tiny, weights=False), None,
                       raw=b'{"w": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    _write_safetensors(_checkpoint(bad / "st-trailing", tiny, weights=False), {"w": TENSOR}, bytes(192))


def _bad_configs(bad: Path, tiny: Path, llama: dict) -> None:
    _checkpoint(bad / "config-list", tiny).joinpath("config.json").write_text(json.dumps([llama]))
    _checkpoint(bad / "text-config-null", tiny, {**llama, "text_config": None})
    _checkpoint(bad / "hidden-string", tiny, {**llama, "hidden_size": "256"})
    _checkpoint(bad / "heads-float", tiny, {**llama, "text_config": {"num_attention_heads": 4.5}})
    _checkpoint(bad / "config-latin1", tiny).joinpath("config.json").write_bytes(
        '{"model_type": "llamà"}'.encode("latin-1"))


def _checkpoint(folder: Path, tiny: Path, config: dict | None = None, weights: bool = True) -> Path:
    """A folder shaped like a checkpoint; its weights are a link to the tiny model's (an allowed folder)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config or json.loads((tiny / "config.json").read_text())))
    if weights:
        (folder / "model.safetensors").symlink_to(tiny / "model.safetensors")
    return folder


@pytest.fixture
def inputs(tmp_path, tiny, eval_text, workspace_env, monkeypatch) -> dict:
    bad, texts, outside = tmp_path / "bad", tmp_path / "texts", tmp_path / "outside"
    bad.mkdir()
    texts.mkdir()
    monkeypatch.setenv("STUDIO_MODEL_DIRS", os.pathsep.join([str(bad), str(tiny.parent)]))
    llama = json.loads((tiny / "config.json").read_text())

    (bad / "notes.txt").write_text("not a model")
    _write_gguf(bad / "model.gguf")
    (bad / "cut.gguf").write_bytes((bad / "model.gguf").read_bytes()[:4000])
    (bad / "no-config").mkdir()
    (bad / "no-config" / "model.safetensors").symlink_to(tiny / "model.safetensors")
    _checkpoint(bad / "bad-json", tiny).joinpath("config.json").write_text("{not json")
    _checkpoint(bad / "bert", tiny, {"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 256})
    _checkpoint(bad / "frobnicator", tiny, {**llama, "architectures": ["FrobnicatorForCausalLM"]})
    _checkpoint(bad / "corrupt", tiny, weights=False).joinpath("model.safetensors").write_bytes(
        (2**40).to_bytes(8, "little") + b"{garbage")
    _checkpoint(bad / "truncated", tiny, weights=False).joinpath("model.safetensors").write_bytes(
        (tiny / "model.safetensors").read_bytes()[:2**20])
    _checkpoint(bad / "no-weights", tiny, weights=False)
    _bad_headers(bad, tiny)
    _bad_configs(bad, tiny, llama)
    _checkpoint(bad / "pickle", tiny, weights=False).joinpath("pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    _checkpoint(bad / "remote-code", tiny, {**llama, "auto_map": {"AutoModelForCausalLM": "modeling.Frob"}})
    _checkpoint(bad / "py-code", tiny).joinpath("modeling_frob.py").write_text("import os\n")
    outside.mkdir()
    (outside / "config.json").write_text(json.dumps(llama))
    _checkpoint(bad / "symlinked", tiny, weights=True)
    (bad / "symlinked" / "config.json").unlink()
    (bad / "symlinked" / "config.json").symlink_to(outside / "config.json")

    (texts / "empty.txt").write_text("  \n")
    (texts / "tiny.txt").write_text("hello world")
    (texts / "short.txt").write_text(eval_text.read_text()[:600])
    (texts / "latin1.txt").write_bytes("naïve café".encode("latin-1"))
    with open(texts / "huge.txt", "wb") as f:
        f.truncate(2**30)  # sparse: 1 GB that takes no disk
    return {"tiny": str(tiny), "text": str(eval_text), "bad": str(bad), "texts": str(texts), "outside": str(outside)}


def _cli_args(case: Case, fill) -> list[str]:
    args = ["quantize", "--model", fill(case.model), "--eval-text", fill(case.text), "--ctx", str(case.ctx),
            "--max-new-tokens", str(case.max_new)]
    args += [a for r in case.recipes for a in ("--recipe", r)] + [a for o in case.options for a in ("--option", o)]
    return args + (["--max-chunks", str(case.max_chunks)] if case.max_chunks is not None else [])


def _request(case: Case, fill) -> service.JobRequest:
    return service.JobRequest(model=fill(case.model), recipes=case.recipes, eval_text=Path(fill(case.text)),
                              n_ctx=case.ctx, max_chunks=case.max_chunks, max_new_tokens=case.max_new,
                              overrides=tuple(tuple(o.split("=", 1)) for o in case.options))


def test_the_table_has_at_least_30_cases():
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_refused_with_a_specific_message_in_cli_and_ui(case, inputs, settings, capsys):
    def fill(value: str) -> str:
        return value.format(**inputs)
    expected = fill(case.expected)

    assert cli.main(jobs.queue, _cli_args(case, fill)) == 2
    err = capsys.readouterr().err
    assert err.startswith("preflight refused:") and expected in err, err
    assert "queued job" not in err

    with pytest.raises(PreflightError) as refused:
        service.preflight(settings, _request(case, fill))
    assert any(expected in reason for reason in refused.value.reasons), refused.value.reasons
    assert esc(expected) in messages("error", refused.value.reasons)  # what the New-job tab shows
    assert service.list_jobs(settings) == []


def test_the_same_job_twice_is_refused_in_cli_and_ui(inputs, settings, capsys):
    case = Case("duplicate", "")
    assert cli.main(jobs.queue, _cli_args(case, lambda v: v.format(**inputs))) == 0
    assert cli.main(jobs.queue, _cli_args(case, lambda v: v.format(**inputs))) == 2
    assert "gguf:Q8_0 on this model and text is already queued as job #1" in capsys.readouterr().err
    with pytest.raises(PreflightError, match="already queued as job #1"):
        service.submit(settings, _request(case, lambda v: v.format(**inputs)), jobs.queue.enqueue)
    assert len(service.list_jobs(settings)) == 1


def test_no_recipe_is_refused_in_cli_and_ui(inputs, settings, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(jobs.queue, ["quantize", "--model", inputs["tiny"]])
    assert exited.value.code == 2 and "the following arguments are required: --recipe" in capsys.readouterr().err
    with pytest.raises(PreflightError, match="no recipe chosen: pick at least one quantization type"):
        service.preflight(settings, service.JobRequest(model=inputs["tiny"], recipes=(), n_ctx=128))


def test_uploads_are_stored_under_generated_names_and_capped(inputs, settings, tmp_path):
    """The New-job tab's upload: Gradio hands over a temp file named after the user's file; a name like
    '../../x' must never become a path, and 1 GB is refused before anything is copied."""
    source = tmp_path / "upload" / "..%2F..%2Fx.txt"
    source.parent.mkdir()
    source.write_text(Path(inputs["text"]).read_text())
    stored = service.save_upload(settings, source)
    assert stored.parent == settings.uploads_dir and stored.name.startswith("text-") and stored.suffix == ".txt"
    assert service.save_upload(settings, tmp_path / "upload" / ".." / "upload" / source.name) == stored
    with pytest.raises(PreflightError, match="evaluation text is 1024 MiB; the limit is 64 MiB"):
        service.save_upload(settings, Path(inputs["texts"]) / "huge.txt")
    assert sorted(p.name for p in settings.uploads_dir.iterdir()) == [stored.name], "no partial copies"


def test_an_invalid_ollama_model_name_is_refused_in_cli_and_ui(settings, capsys):
    from studio.ollama import service as ollama_service
    from tests.models import smollm2_gguf
    from tests.ollama_standin import store_gguf_result

    result_id = store_gguf_result(settings, smollm2_gguf(), smollm2_gguf())
    assert cli.main(jobs.queue, ["ollama", "import", str(result_id), "--name", "Bad Name!"]) == 2
    assert "invalid model name 'Bad Name!'" in capsys.readouterr().err
    text = ollama_service.preview_modelfile(settings, result_id).text
    with pytest.raises(ValueError, match="invalid model name 'Bad Name!'"):
        request = ollama_service.ImportRequest(result_id, "Bad Name!", "http://127.0.0.1:9", text)
        ollama_service.submit_import(settings, request, jobs.queue.enqueue)
    assert service.list_jobs(settings) == []


def test_a_hub_model_too_big_for_the_disk_is_refused_before_downloading(settings, monkeypatch):
    """Online, a hub id is sized from the hub's file list first; nothing is downloaded when it cannot fit."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.hf_api import ModelInfo

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    files = [{"rfilename": "config.json", "size": 700}, {"rfilename": "model.safetensors", "size": 2**50},
             {"rfilename": "pytorch_model.bin", "size": 2**60}]  # not downloaded: only the safetensors count
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info",
                        lambda self, repo_id, **kw: ModelInfo(id=repo_id, siblings=files))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **kw: pytest.fail("downloaded anyway"))
    request = service.JobRequest(model="bigcorp/huge-model", recipes=("gguf:Q8_0",), n_ctx=128)
    with pytest.raises(PreflightError, match=r"'bigcorp/huge-model' needs 1048576\.00 GiB more in the Hugging Face "
                                             r"cache .* GiB free: free some disk"):
        service.preflight(settings, request)
