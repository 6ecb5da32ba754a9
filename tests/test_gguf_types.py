"""Every listed GGUF type on a tiny llama whose rows are multiples of 256: the file holds the
requested types (llama.cpp's per-tensor mix), read back with the census (llama.cpp's gguf parser)."""
from __future__ import annotations

import ctypes
import subprocess

import pytest

from studio.gguf_census import gguf_census
from studio.llamacpp import convert_command
from studio.recipes.gguf import GGUF_TYPES

LISTED = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0"]
# What llama.cpp may put in a file of each type: the main type plus the mix rules' upgrades.
ALLOWED = {
    "Q2_K": {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}, "Q3_K_S": {"Q3_K", "Q6_K"},
    "Q3_K_M": {"Q3_K", "Q4_K", "Q5_K", "Q6_K"}, "Q4_0": {"Q4_0", "Q6_K"}, "Q4_K_S": {"Q4_K", "Q5_K", "Q6_K"},
    "Q4_K_M": {"Q4_K", "Q6_K"}, "Q5_K_S": {"Q5_K", "Q6_K"}, "Q5_K_M": {"Q5_K", "Q6_K"},
    "Q6_K": {"Q6_K"}, "Q8_0": {"Q8_0"},
}


@pytest.fixture(scope="module")
def tiny_f16(tiny, studio_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-gguf") / "tiny-f16.gguf"
    cmd, env = convert_command(studio_cache, tiny, out)
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return out


@pytest.mark.parametrize("qtype", LISTED)
def test_quantized_file_holds_the_requested_types(tiny_f16, qtype, tmp_path):
    import llama_cpp

    out = tmp_path / f"tiny-{qtype}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = GGUF_TYPES[qtype]
    assert llama_cpp.llama_model_quantize(str(tiny_f16).encode(), str(out).encode(), ctypes.byref(params)) == 0
    census = gguf_census(out)
    assert census["rows_not_k_divisible"] == 0  # hidden 256: no fallback needed
    weight_types = set(census["tensor_types"]) - {"F32"}
    assert weight_types and weight_types <= ALLOWED[qtype], census["tensor_types"]
    assert census["bpw"] < 16
