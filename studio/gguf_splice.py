"""A GGUF file made of two others' tensors: every tensor from `base`, except the ones named, from `other` (the same
model quantized to another type). What a sensitivity map measures: the model at a high type with one tensor at a
low one, without quantizing it again (llama.cpp would write the same bytes for that tensor: its blocks depend on
that tensor alone, and on the importance matrix when there is one — pass files made with the same).

The metadata is `base`'s, copied verbatim; the tensor infos are written again with the new types and offsets;
the data is copied with the kernel's copy_file_range where it can.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from studio.gguf_header import MAGIC, Layout, TensorInfo, read_layout


def splice(base: Path, other: Path, take: set[str], out: Path, layouts: tuple[Layout, Layout] | None = None) -> None:
    """Write `out`: `base` with the tensors in `take` from `other` (`layouts`: both files' layouts, read once by a
    caller that splices many times)."""
    mine, theirs = layouts or (read_layout(base), read_layout(other))
    by_name = {t.name: t for t in theirs.tensors}
    if [t.name for t in mine.tensors] != [t.name for t in theirs.tensors] or not take <= by_name.keys():
        raise ValueError(f"{base.name} and {other.name} are not the same model's tensors")
    chosen = [(by_name[t.name], theirs, other) if t.name in take else (t, mine, base) for t in mine.tensors]
    align = mine.alignment
    infos, offset = [], 0
    for info, _, _ in chosen:
        infos.append(TensorInfo(info.name, info.dims, info.ggml_type, offset))
        offset += -(-info.n_bytes // align) * align
    header = MAGIC + struct.pack("<IQQ", mine.version, len(infos), mine.n_kv) + mine.metadata_bytes
    header += b"".join(_info_bytes(i) for i in infos)
    header += b"\0" * (-len(header) % align)
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb") as f, base.open("rb") as from_base, other.open("rb") as from_other:
        f.write(header)
        for info, layout, _source in chosen:
            source = from_other if layout is theirs else from_base
            _copy(source, layout.data_start + info.offset, info.n_bytes, f)
            f.write(b"\0" * (-info.n_bytes % align))
    partial.replace(out)


def _info_bytes(info: TensorInfo) -> bytes:
    name = info.name.encode()
    return (struct.pack("<Q", len(name)) + name + struct.pack("<I", len(info.dims))
            + b"".join(struct.pack("<Q", d) for d in info.dims) + struct.pack("<IQ", info.ggml_type, info.offset))


def _copy(source, at: int, n: int, dest) -> None:
    dest.flush()
    done = 0
    try:
        while done < n:
            copied = os.copy_file_range(source.fileno(), dest.fileno(), n - done, at + done)
            if copied == 0:
                break
            done += copied
    except OSError:  # a filesystem without it: read and write
        pass
    dest.seek(0, os.SEEK_END)
    if done < n:
        source.seek(at + done)
        dest.write(source.read(n - done))
