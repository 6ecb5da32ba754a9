"""Property-based fuzzing of what preflight reads from a checkpoint folder: safetensors headers and
config.json. Whatever the bytes, reading the model's facts either succeeds or refuses with a ModelError
whose message names the file at fault; nothing else escapes. A header preflight accepts, the safetensors
library loads, and the other way round."""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from safetensors import SafetensorError, safe_open

from studio.config import Settings
from studio.models import SAFETENSORS_DTYPE_BITS, ModelError, read_model_facts

EXAMPLES = dict(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "vocab_size": 16}
VALID = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
dims = st.integers(0, 8) | st.integers(-3, -1) | st.sampled_from([2**64, 2**70]) | json_scalars


@st.composite
def tensor_entries(draw) -> object:
    """Mostly nearly-valid entries (one field bent at a time is where the bugs are), sometimes any JSON."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    shape = draw(st.lists(st.integers(0, 6), max_size=3))
    dtype = draw(st.sampled_from(sorted(SAFETENSORS_DTYPE_BITS)))
    begin = draw(st.integers(0, 64))
    size = -(-math.prod(shape) * SAFETENSORS_DTYPE_BITS[dtype] // 8)
    entry = {"dtype": dtype, "shape": shape, "data_offsets": [begin, begin + size]}
    bent = draw(st.sampled_from(["none", "dtype", "shape", "data_offsets", "drop", "extra"]))
    if bent == "shape":
        entry["shape"] = draw(st.lists(dims, max_size=4) | json_values)
    elif bent in ("dtype", "data_offsets"):
        entry[bent] = draw(json_values | st.lists(st.integers(-4, 600), max_size=3))
    elif bent == "drop":
        del entry[draw(st.sampled_from(sorted(entry)))]
    elif bent == "extra":
        entry[draw(st.text(max_size=6))] = draw(json_values)
    return entry


@st.composite
def safetensors_files(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:  # bytes that may not even be a JSON header
        raw = draw(st.binary(max_size=64))
        declared = draw(st.sampled_from([len(raw), len(raw) + 1, 0, 2**63]))
        return declared.to_bytes(8, "little") + raw + draw(st.binary(max_size=32))
    header = draw(st.dictionaries(st.text(min_size=1, max_size=6), tensor_entries(), max_size=4))
    if draw(st.integers(0, 3)) == 0:
        header["__metadata__"] = draw(st.dictionaries(st.text(max_size=4), st.text(max_size=4)) | json_values)
    head = json.dumps(header).encode()
    data = draw(st.binary(max_size=96) | st.just(bytes(_data_end(header))))
    return len(head).to_bytes(8, "little") + head + data


def _data_end(header: dict) -> int:
    """Where well-formed offsets would have the data end (so that valid headers are drawn often enough)."""
    ends = [e["data_offsets"][1] for e in header.values() if isinstance(e, dict)
            and isinstance(e.get("data_offsets"), list) and len(e["data_offsets"]) == 2
            and all(isinstance(v, int) and 0 <= v < 4096 for v in e["data_offsets"])]
    return max(ends, default=0)


config_fields = st.sampled_from(["hidden_size", "vocab_size", "num_hidden_layers", "num_attention_heads",
                                 "num_key_value_heads", "head_dim", "max_position_embeddings", "architectures",
                                 "model_type", "text_config", "auto_map", "torch_dtype"])


@st.composite
def config_files(draw) -> bytes:
    kind = draw(st.sampled_from(["bent", "bent", "bent", "any json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "any json":
        return json.dumps(draw(json_values)).encode()
    config = dict(CONFIG)
    for _ in range(draw(st.integers(1, 3))):
        config[draw(config_fields)] = draw(json_values | st.dictionaries(config_fields, json_values, max_size=3))
    return json.dumps(config).encode()


@pytest.fixture
def folder(tmp_path):
    model = tmp_path / "fuzzed-model"
    model.mkdir()
    return model, dataclasses.replace(Settings.from_env(tmp_path / "ws"), model_dirs=(tmp_path,))


def _read(model, settings):
    """The facts, or the refusal's message; anything but a ModelError fails the test by escaping."""
    try:
        return read_model_facts(model, settings)
    except ModelError as exc:
        message = str(exc)
        assert message.strip() and len(message) < 1000, message
        return message


def _loads(path) -> bool:
    try:
        with safe_open(str(path), "numpy"):
            return True
    except SafetensorError:
        return False


@hypothesis_settings(**EXAMPLES)
@given(content=safetensors_files())
def test_any_safetensors_header_is_read_or_refused_naming_the_file(folder, content):
    model, settings = folder
    (model / "config.json").write_text(json.dumps(CONFIG))
    (model / "model.safetensors").write_bytes(content)
    outcome = _read(model, settings)
    if isinstance(outcome, str):
        assert "model.safetensors" in outcome, outcome
    assert isinstance(outcome, str) != _loads(model / "model.safetensors"), (outcome, content[:200])


@hypothesis_settings(**EXAMPLES)
@given(content=config_files())
def test_any_config_json_is_read_or_refused_naming_the_file(folder, content):
    model, settings = folder
    (model / "config.json").write_bytes(content)
    header = json.dumps({"w": VALID}).encode()
    (model / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(16))
    outcome = _read(model, settings)
    if isinstance(outcome, str):
        assert "config.json" in outcome or "needs trust_remote_code" in outcome, outcome
    else:
        assert all(v is None or (isinstance(v, int) and v > 0) for v in (outcome.hidden_size, outcome.vocab_size))
        assert isinstance(outcome.architecture, str) and isinstance(outcome.model_type, str)
