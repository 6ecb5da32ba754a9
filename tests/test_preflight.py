"""Preflight refuses what cannot work, with a specific message, before anything is queued."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_cli


@pytest.fixture
def bad_models(tmp_path, smol):
    root = tmp_path / "models"
    (root / "no-config").mkdir(parents=True)
    shutil.copy(smol / "model.safetensors", root / "no-config" / "model.safetensors")
    bert = root / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert",
                                                  "hidden_size": 64, "vocab_size": 100}))
    shutil.copy(smol / "model.safetensors", bert / "model.safetensors")
    (root / "a-file.txt").write_text("not a model")
    negative = root / "negative-shape"
    negative.mkdir()
    shutil.copy(smol / "config.json", negative / "config.json")
    header = json.dumps({"w": {"dtype": "F32", "shape": [-4, 8], "data_offsets": [0, 128]}}).encode()
    (negative / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(128))
    no_text = root / "text-config-null"
    no_text.mkdir()
    (no_text / "config.json").write_text(json.dumps({**json.loads((smol / "config.json").read_text()),
                                                     "text_config": None}))
    shutil.copy(smol / "model.safetensors", no_text / "model.safetensors")
    return root


@pytest.mark.parametrize("name, expected", [
    ("no-config", "has no config.json"),
    ("bert", "BertForMaskedLM is not a causal language model"),
    ("missing", "does not exist"),
    ("a-file.txt", "is a file, not a checkpoint folder"),
    ("negative-shape", 'model.safetensors: tensor "w" in the safetensors header has shape [-4, 8]; expected a list '
                       "of non-negative integers"),
    ("text-config-null", "text-config-null/config.json: text_config is null; expected an object"),
])
def test_cli_refuses_with_a_specific_message(bad_models, workspace_env, name, expected):
    env = {**workspace_env, "STUDIO_MODEL_DIRS": str(bad_models)}
    proc = run_cli(["quantize", "--model", str(bad_models / name), "--recipe", "gguf:Q4_K_M"], env, timeout=120)
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert "queued" not in proc.stderr


def test_paths_outside_the_allowed_folders_are_refused(workspace_env, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    proc = run_cli(["quantize", "--model", str(outside), "--recipe", "gguf:Q4_K_M"], workspace_env, timeout=120)
    assert proc.returncode == 2 and "outside the allowed folders" in proc.stderr


def test_unknown_type_and_bad_protocol_are_refused(workspace_env, smol):
    proc = run_cli(["quantize", "--model", str(smol), "--recipe", "gguf:Q9_X", "--ctx", "0",
                    "--max-chunks", "0"], workspace_env, timeout=120)
    assert proc.returncode == 2
    assert "'Q9_X' is not one of" in proc.stderr
    assert "context length 0 is too small" in proc.stderr


def test_preflight_plan_counts_the_f16_intermediate(settings, smol):
    from studio import service

    plan = service.preflight(settings, service.JobRequest(model=str(smol), recipes=("gguf:Q4_K_M",)))
    assert plan.model.architecture == "LlamaForCausalLM"
    assert plan.model.n_params == 134_515_008
    assert plan.disk_needed >= plan.model.n_params * 2
