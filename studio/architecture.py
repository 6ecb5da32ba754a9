"""A decoder-only transformer's shape, and the tensors it is made of.

The Planner, the preflight's disk figure and the memory model count the same tensors from one
description: a checkpoint's config.json, or a known shape for a parameter count typed without one.
Tensors carry llama.cpp's GGUF names and dimension order (ne[0] is the row width, the input features of
a linear layer), because llama.cpp chooses a type per tensor from its name and row width.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Tensor:
    name: str  # llama.cpp's name: token_embd.weight, blk.3.attn_v.weight, output.weight
    ne: tuple[int, ...]  # ggml order: ne[0] = row width (a linear layer's input features)

    @property
    def elements(self) -> int:
        return math.prod(self.ne)

    @property
    def is_matrix(self) -> bool:
        return len(self.ne) >= 2


@dataclass(frozen=True)
class Architecture:
    """What the weights and the KV cache of a Llama-family model (dense or mixture-of-experts, and Gemma 2 and 3's
    extra norms) depend on."""
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    experts: int = 1  # routed experts per layer (Mixtral 8, Qwen-MoE 60); 1 = a dense MLP
    qkv_bias: bool = False  # Qwen2 adds a bias to q, k and v
    sliding_window: int | None = None  # tokens a sliding-window layer attends to
    sliding_layers: int = 0  # how many of the layers use that window (Gemma 2: every other; Gemma 3: 5 of 6)
    post_norms: bool = False  # Gemma 2 and 3 also normalise the attention's and the MLP's outputs
    qk_norm: bool = False  # Gemma 3 normalises each head's q and k (a head_dim-wide norm each)
    source: str = "config.json"

    @classmethod
    def from_config(cls, config: dict, source: str = "the model's config.json") -> Architecture:
        c = config.get("text_config", config)
        heads = c.get("num_attention_heads") or 1
        hidden = c.get("hidden_size") or 0
        experts = c.get("num_local_experts") or c.get("num_experts") or 1
        expert_width = c.get("moe_intermediate_size") if experts > 1 else None
        intermediate = expert_width or c.get("intermediate_size") or 4 * hidden
        layers = c.get("num_hidden_layers") or 0
        window, sliding = _sliding(c, layers)
        model_type = c.get("model_type") or config.get("model_type")
        return cls(layers=layers, hidden=hidden, intermediate=intermediate, heads=heads,
                   kv_heads=c.get("num_key_value_heads") or heads, head_dim=c.get("head_dim") or hidden // heads,
                   vocab=c.get("vocab_size") or 0, tied_embeddings=bool(c.get("tie_word_embeddings", False)),
                   experts=experts, qkv_bias=c.get("model_type") == "qwen2" or bool(c.get("attention_bias")),
                   sliding_window=window, sliding_layers=sliding, post_norms=model_type in POST_NORMS,
                   qk_norm=model_type in QK_NORMS, source=source)

    @property
    def gqa(self) -> int:
        """Query heads per KV head (llama.cpp gives attn_v more bits when it is shared by 4 or more)."""
        return self.heads // max(self.kv_heads, 1)

    def tensors(self) -> list[Tensor]:
        """Every tensor in llama.cpp's names, layer by layer in order."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        out = [Tensor("token_embd.weight", (self.hidden, self.vocab)), Tensor("output_norm.weight", (self.hidden,))]
        if not self.tied_embeddings:
            out.append(Tensor("output.weight", (self.hidden, self.vocab)))
        for i in range(self.layers):
            b = f"blk.{i}."
            out += [Tensor(b + "attn_norm.weight", (self.hidden,)), Tensor(b + "attn_q.weight", (self.hidden, q)),
                    Tensor(b + "attn_k.weight", (self.hidden, kv)), Tensor(b + "attn_v.weight", (self.hidden, kv)),
                    Tensor(b + "attn_output.weight", (q, self.hidden)), Tensor(b + "ffn_norm.weight", (self.hidden,))]
            if self.qkv_bias:
                out += [Tensor(b + "attn_q.bias", (q,)), Tensor(b + "attn_k.bias", (kv,)),
                        Tensor(b + "attn_v.bias", (kv,))]
            if self.qk_norm:
                out += [Tensor(b + "attn_q_norm.weight", (self.head_dim,)),
                        Tensor(b + "attn_k_norm.weight", (self.head_dim,))]
            if self.post_norms:
                out += [Tensor(b + "post_attention_norm.weight", (self.hidden,)),
                        Tensor(b + "post_ffw_norm.weight", (self.hidden,))]
            out += self._mlp(b)
        return out

    def _mlp(self, b: str) -> list[Tensor]:
        h, f = self.hidden, self.intermediate
        if self.experts == 1:
            return [Tensor(b + "ffn_gate.weight", (h, f)), Tensor(b + "ffn_up.weight", (h, f)),
                    Tensor(b + "ffn_down.weight", (f, h))]
        e = self.experts
        return [Tensor(b + "ffn_gate_inp.weight", (h, e)), Tensor(b + "ffn_gate_exps.weight", (h, f, e)),
                Tensor(b + "ffn_up_exps.weight", (h, f, e)), Tensor(b + "ffn_down_exps.weight", (f, h, e))]

    def linears(self) -> list[tuple[str, int, int]]:
        """(transformers module name, out features, in features) of every linear layer in the decoder blocks:
        what the Hugging Face-format recipes quantize."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        h, f = self.hidden, self.intermediate
        mlp = [("gate_proj", f, h), ("up_proj", f, h), ("down_proj", h, f)]
        out = []
        for i in range(self.layers):
            b = f"model.layers.{i}."
            out += [(b + "self_attn.q_proj", q, h), (b + "self_attn.k_proj", kv, h), (b + "self_attn.v_proj", kv, h),
                    (b + "self_attn.o_proj", h, q)]
            prefixes = [b + "mlp."] if self.experts == 1 else [f"{b}mlp.experts.{e}." for e in range(self.experts)]
            out += [(p + name, rows, cols) for p in prefixes for name, rows, cols in mlp]
        return out

    @property
    def n_params(self) -> int:
        return sum(t.elements for t in self.tensors())

    def embedding_elements(self) -> int:
        """The 16-bit tensors quantizers keep: the embedding, and the output matrix when it is its own."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)


# The model types (a config's, or its text_config's) whose layers carry llama.cpp's post_attention_norm and
# post_ffw_norm, and attn_q_norm and attn_k_norm: 1-D, kept in F32, never quantized, but in the file's size.
POST_NORMS = frozenset({"gemma2", "gemma3", "gemma3_text"})
QK_NORMS = frozenset({"gemma3", "gemma3_text"})


# A decoder layer's matrices: llama.cpp's tensor group -> the transformers module (Llama-family naming)
HF_MODULES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
              "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
              "ffn_down": "mlp.down_proj"}


def hf_module(gguf_tensor: str) -> str | None:
    """The transformers module holding a GGUF tensor of a decoder layer ("blk.3.ffn_down.weight" ->
    "model.layers.3.mlp.down_proj"); None for the others (embeddings, output, norms)."""
    match = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight", gguf_tensor)
    if match is None or match[2] not in HF_MODULES:
        return None
    return f"model.layers.{match[1]}.{HF_MODULES[match[2]]}"


def gguf_tensor(module: str) -> str | None:
    """hf_module's inverse: "model.layers.3.mlp.down_proj" -> "blk.3.ffn_down.weight"; None for other names."""
    match = re.fullmatch(r"model\.layers\.(\d+)\.(\w+\.\w+)", module)
    group = next((g for g, m in HF_MODULES.items() if match and m == match[2]), None)
    return f"blk.{match[1]}.{group}.weight" if group else None


def _sliding(c: dict, layers: int) -> tuple[int | None, int]:
    """(window, layers using it) from the ways configs say it: transformers 5's `layer_types`, Gemma 3's
    `sliding_window_pattern` (every Nth layer is global) and Gemma 2 (alternating). A bare `sliding_window`
    (Mistral 7B v0.1, Qwen2 with use_sliding_window off) counts as full attention: llama.cpp ignores it."""
    window = c.get("sliding_window")
    if not window:
        return None, 0
    if isinstance(c.get("layer_types"), list):
        n = sum(1 for t in c["layer_types"] if t == "sliding_attention")
        return (window, n) if n else (None, 0)
    if c.get("sliding_window_pattern"):
        period = int(c["sliding_window_pattern"])
        return window, layers - layers // period
    if c.get("model_type") == "gemma2":
        return window, (layers + 1) // 2
    return None, 0


# Llama-family shapes for a parameter count typed without a config: the nearest is used, and named.
KNOWN = {
    "SmolLM2-135M": Architecture(30, 576, 1536, 9, 3, 64, 49152, True, source="SmolLM2-135M"),
    "Llama-3.2-1B": Architecture(16, 2048, 8192, 32, 8, 64, 128256, True, source="Llama-3.2-1B"),
    "Llama-3.2-3B": Architecture(28, 3072, 8192, 24, 8, 128, 128256, True, source="Llama-3.2-3B"),
    "Llama-2-7B": Architecture(32, 4096, 11008, 32, 32, 128, 32000, False, source="Llama-2-7B"),
    "Llama-3.1-8B": Architecture(32, 4096, 14336, 32, 8, 128, 128256, False, source="Llama-3.1-8B"),
    "Llama-2-13B": Architecture(40, 5120, 13824, 40, 40, 128, 32000, False, source="Llama-2-13B"),
    "Llama-3.1-70B": Architecture(80, 8192, 28672, 64, 8, 128, 128256, False, source="Llama-3.1-70B"),
    "Llama-3.1-405B": Architecture(126, 16384, 53248, 128, 8, 128, 128256, False, source="Llama-3.1-405B"),
}


def nearest(params: float) -> Architecture:
    """The known shape nearest in parameter count (on a log scale), its source saying it was assumed."""
    arch = min(KNOWN.values(), key=lambda a: abs(math.log(a.n_params / params)))
    return replace(arch, source=f"assumed like {arch.source}")
