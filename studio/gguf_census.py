"""Tensor facts of a GGUF file (types, parameters, bits per weight), read with llama.cpp's own
parser (gguf.h in the libggml-base that llama-cpp-python ships).

gguf.GGUFReader builds a numpy view for every part of every metadata field: on a model with a 49k
vocabulary that is ~200k small arrays, 4.3 s on these CI machines for SmolLM2-135M, paid by every
job in its store stage. llama.cpp reads the same header in milliseconds."""
from __future__ import annotations

import ctypes
import functools
from pathlib import Path

from gguf import QK_K  # k-quants' super-block: a row whose length is not a multiple falls back to another type


class _InitParams(ctypes.Structure):
    """struct gguf_init_params: no_alloc reads the tensor infos without their data."""
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.POINTER(ctypes.c_void_p))]


@functools.cache
def _ggml_base() -> ctypes.CDLL:
    import llama_cpp
    from llama_cpp._ctypes_extensions import load_shared_library
    lib = load_shared_library("ggml-base", Path(llama_cpp.__file__).parent / "lib")
    signatures = {
        "gguf_init_from_file": ([ctypes.c_char_p, _InitParams], ctypes.c_void_p),
        "gguf_get_n_tensors": ([ctypes.c_void_p], ctypes.c_int64),
        "gguf_get_tensor_name": ([ctypes.c_void_p, ctypes.c_int64], ctypes.c_char_p),
        "gguf_get_tensor_type": ([ctypes.c_void_p, ctypes.c_int64], ctypes.c_int),
        "gguf_get_tensor_size": ([ctypes.c_void_p, ctypes.c_int64], ctypes.c_size_t),
        "gguf_free": ([ctypes.c_void_p], None),
        "ggml_get_tensor": ([ctypes.c_void_p, ctypes.c_char_p], ctypes.c_void_p),
        "ggml_nelements": ([ctypes.c_void_p], ctypes.c_int64),
        "ggml_nrows": ([ctypes.c_void_p], ctypes.c_int64),
        "ggml_n_dims": ([ctypes.c_void_p], ctypes.c_int),
        "ggml_free": ([ctypes.c_void_p], None),
    }
    for name, (argtypes, restype) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, restype
    return lib


def gguf_census(path: Path) -> dict:
    """Tensor types, bits per weight and k-quant fallbacks of a GGUF file, read back from disk."""
    from gguf import GGMLQuantizationType

    lib = _ggml_base()
    meta = ctypes.c_void_p()  # a ggml context holding the tensors' shapes, no data
    gguf = lib.gguf_init_from_file(str(path).encode(), _InitParams(True, ctypes.pointer(meta)))
    if not gguf:
        raise ValueError(f"{path} is not a readable GGUF file (llama.cpp's gguf parser refused it)")
    types: dict[str, int] = {}
    n_elements = n_bytes = not_k_divisible = 0
    try:
        for i in range(lib.gguf_get_n_tensors(gguf)):
            name = GGMLQuantizationType(lib.gguf_get_tensor_type(gguf, i)).name
            types[name] = types.get(name, 0) + 1
            tensor = lib.ggml_get_tensor(meta, lib.gguf_get_tensor_name(gguf, i))
            elements = lib.ggml_nelements(tensor)
            n_elements += elements
            n_bytes += lib.gguf_get_tensor_size(gguf, i)
            row_length = elements // lib.ggml_nrows(tensor)
            if lib.ggml_n_dims(tensor) >= 2 and row_length % QK_K:
                not_k_divisible += 1
    finally:
        lib.gguf_free(gguf)
        lib.ggml_free(meta)
    return {"tensor_types": types, "n_params": n_elements, "tensor_bytes": n_bytes,
            "bpw": 8.0 * n_bytes / n_elements, "rows_not_k_divisible": not_k_divisible}
