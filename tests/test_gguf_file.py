"""A GGUF file from elsewhere, evaluated as a row (recipe gguf-file, `python -m studio evaluate --gguf`): a copy of a
studio-made file gets the original row's figures; files that cannot be scored against the model are refused with
the reason, before any job runs; the header is read without trusting the file."""
from __future__ import annotations

import json
import shutil
import struct

import pytest

from studio.gguf_header import GGUFHeaderError, read_metadata
from tests.conftest import make_env, run_cli
from tests.models import smollm2_gguf


def test_the_header_reader_agrees_with_gguf_py_and_refuses_a_hostile_header(tmp_path):
    from gguf import GGUFReader
    path = smollm2_gguf()
    ours = read_metadata(path)
    reader = GGUFReader(path)
    for key in ("general.architecture", "llama.block_count", "llama.embedding_length", "general.file_type"):
        field = reader.fields[key]
        value = field.contents()
        assert ours[key] == value, key
    assert ours["tokenizer.ggml.tokens"] == reader.fields["tokenizer.ggml.tokens"].contents()
    # A header claiming 2**40 strings in a 40-byte file: refused at once, nothing allocated for them.
    hostile = tmp_path / "hostile.gguf"
    key = b"tokenizer.ggml.tokens"
    hostile.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
                        + struct.pack("<IIQ", 9, 8, 2**40))
    with pytest.raises(GGUFHeaderError, match="truncated or corrupt"):
        read_metadata(hostile)


def test_a_copy_of_a_studio_made_gguf_gets_the_original_row_s_figures(smol_run, smol, eval_text):
    env, ws = smol_run["env"], smol_run["workspace"]
    original = next(r for r in smol_run["rows"] if r["recipe"] == "gguf:Q4_K_M")
    brought = ws / "brought" / "someone-elses-Q4_K_M.gguf"
    brought.parent.mkdir(exist_ok=True)
    shutil.copyfile(original["artifact"], brought)
    proc = run_cli(["evaluate", "--model", str(smol), "--gguf", str(brought), "--option",
                    "gguf-file.checkpoint_kld=false", "--eval-text", str(eval_text), "--ctx", "512", "--max-chunks",
                    "4", "--max-new-tokens", "24", "--wait", "--json"], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [row] = json.loads(proc.stdout)
    assert row["recipe"] == "file:someone-elses-Q4_K_M.gguf" and row["base_key"] == original["base_key"]
    for key in ("ppl", "ppl_delta_pct", "kld_mean", "kld_p99", "same_top_pct", "rms_dp_pct", "size_bytes", "bpw",
                "tensor_types", "n_tokens_scored"):
        assert row[key] == original[key], key
    # The row owns its own entry in outputs/; deleting it leaves the user's file where it was.
    assert row["artifact"] != str(brought) and "outputs" in row["artifact"]
    assert run_cli(["results", "--json"], env).returncode == 0
    from studio import service
    from studio.config import Settings
    service.delete_result(Settings.from_env(ws), row["id"])
    assert brought.stat().st_size == original["size_bytes"]


@pytest.fixture
def refusals(tmp_path, studio_cache, smol, tiny):
    """A fresh workspace and files that cannot be scored against a model, placed where files may be read."""
    ws = tmp_path / "ws"
    files = ws / "brought"
    files.mkdir(parents=True)
    (files / "notes.gguf").write_text("not a model")
    (files / "truncated.gguf").write_bytes(smollm2_gguf().read_bytes()[:100_000])
    shutil.copyfile(smollm2_gguf(), files / "smollm2.gguf")
    _other_vocabulary(files / "other-vocab.gguf")
    outside = tmp_path / "elsewhere.gguf"
    shutil.copyfile(files / "notes.gguf", outside)
    return make_env(ws, studio_cache, [smol.parent, tiny.parent]), files, outside


def _other_vocabulary(path) -> None:
    """SmolLM2's shape with one token changed: the ids no longer mean the model's tokens."""
    from gguf import GGUFWriter
    tokens = list(read_metadata(smollm2_gguf())["tokenizer.ggml.tokens"])
    tokens[100] = "not-the-model's-token"
    writer = GGUFWriter(str(path), "llama")
    writer.add_block_count(30)
    writer.add_embedding_length(576)
    writer.add_token_list(tokens)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("name,model,expected", [
    ("notes.gguf", "smol", "is not a GGUF file"),
    ("truncated.gguf", "smol", "truncated or corrupt"),
    ("other-vocab.gguf", "smol", "vocabulary is not the model's, so no token ids are shared: vocabularies differ at "
                                 "token id 100"),
    ("smollm2.gguf", "tiny", "it is another model: 30 layers of width 576, the model has 2 of width 256"),
    ("missing.gguf", "smol", "is not a file"),
])
def test_files_that_cannot_be_scored_are_refused_with_the_reason(refusals, smol, tiny, name, model, expected):
    env, files, _ = refusals
    proc = run_cli(["evaluate", "--model", str(smol if model == "smol" else tiny), "--gguf", str(files / name)], env)
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr


def test_a_file_outside_the_allowed_folders_is_refused(refusals, smol):
    env, _, outside = refusals
    proc = run_cli(["evaluate", "--model", str(smol), "--gguf", str(outside)], env)
    assert proc.returncode == 2 and "gguf-file.file" in proc.stderr and "outside" in proc.stderr, proc.stderr
