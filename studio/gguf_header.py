"""The metadata of a GGUF file a user brings, read in pure Python with every length checked against the file.

A file from elsewhere is untrusted input: llama.cpp's C parser belongs in a job's own process, not in the studio's
(a crash there would take the server down), and gguf.GGUFReader builds a numpy view per string (seconds for a
49k vocabulary). This reads the header's key/value section once, front to back, and stops before the tensor infos.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

MAGIC = b"GGUF"
VERSIONS = (2, 3)
# gguf_type: struct format of the fixed-size scalars; 8 = string, 9 = array
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
MAX_KEYS = 1 << 16


class GGUFHeaderError(ValueError):
    """The file is not a GGUF file this studio can read, and why."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int  # from the start of the data section

    @property
    def n_bytes(self) -> int:
        elements = 1
        for d in self.dims:
            elements *= d
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(self.ggml_type)]
        return elements // block * size


@dataclass(frozen=True)
class Layout:
    """Where everything is: the metadata as stored (its bytes, to copy verbatim), the tensors, the data section."""
    version: int
    n_kv: int
    metadata: dict
    metadata_bytes: bytes
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_start: int


def read_metadata(path: Path) -> dict:
    """Every key/value of the file's header (arrays as lists)."""
    return read_layout(path, tensors=False).metadata


def read_layout(path: Path, tensors: bool = True) -> Layout:
    """The header (and, with `tensors`, every tensor's info and where the data starts)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        reader = _Reader(f, size, path)
        if reader.take(4) != MAGIC:
            raise GGUFHeaderError(f"{path.name} is not a GGUF file (it does not start with 'GGUF')")
        version = reader.scalar("I")
        if version not in VERSIONS:
            raise GGUFHeaderError(f"{path.name} is GGUF version {version}; llama.cpp reads versions 2 and 3")
        n_tensors, n_kv = reader.scalar("Q"), reader.scalar("Q")
        if n_kv > MAX_KEYS:
            raise GGUFHeaderError(f"{path.name} claims {n_kv} metadata keys: not a GGUF file written by llama.cpp")
        start = f.tell()
        metadata = {reader.string(): reader.value(reader.scalar("I")) for _ in range(n_kv)}
        end = f.tell()
        f.seek(start)
        raw = f.read(end - start)
        alignment = int(metadata.get("general.alignment", 32))
        if not tensors:
            return Layout(version, n_kv, metadata, raw, (), alignment, 0)
        if 8 * n_tensors > size - end:
            reader.take(8 * n_tensors)
        infos = tuple(_tensor_info(reader) for _ in range(n_tensors))
        return Layout(version, n_kv, metadata, raw, infos, alignment, -(-f.tell() // alignment) * alignment)


def _tensor_info(reader: _Reader) -> TensorInfo:
    name = reader.string()
    n_dims = reader.scalar("I")
    if n_dims > 4:
        raise GGUFHeaderError(f"{reader.path.name}: tensor {name!r} has {n_dims} dimensions; ggml has at most 4")
    dims = tuple(reader.scalar("Q") for _ in range(n_dims))
    return TensorInfo(name, dims, reader.scalar("I"), reader.scalar("Q"))


class _Reader:
    def __init__(self, f: BinaryIO, size: int, path: Path):
        self.f, self.size, self.path = f, size, path

    def take(self, n: int) -> bytes:
        if n < 0 or self.f.tell() + n > self.size:
            raise GGUFHeaderError(f"{self.path.name} is truncated or corrupt: its header runs past the end of the file")
        return self.f.read(n)

    def scalar(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.scalar("Q")).decode("utf-8", errors="replace")

    def value(self, kind: int):
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, n = self.scalar("I"), self.scalar("Q")
            if item in _SCALARS:  # read at once: a vocabulary's scores are 100k+ floats
                fmt = _SCALARS[item]
                return list(struct.unpack(f"<{n}{fmt}", self.take(n * struct.calcsize(fmt))))
            if item == _STRING:
                if 8 * n > self.size - self.f.tell():  # each string has at least its 8-byte length
                    self.take(8 * n)
                return [self.string() for _ in range(n)]
        raise GGUFHeaderError(f"{self.path.name} has a metadata value of unknown type {kind}: not a GGUF file "
                              "llama.cpp wrote")
