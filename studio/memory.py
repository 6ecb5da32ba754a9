"""What a job's stages hold in anonymous memory, from the model's facts: GGUF jobs, the studio's own
Hugging Face formats (studio.recipes.packed) and the torch evaluation of any Hugging Face artifact.

Anonymous memory is what the kernel cannot evict: the preflight compares the largest stage's figure with
the RAM available. Memory-mapped files (the F16 and quantized GGUFs llama.cpp evaluates, the safetensors
shards the converter and a streamed checkpoint read) are page cache: evictable, so they decide speed (a
working set larger than the RAM is re-read from disk), not whether a job can run.

Every GGUF stage streams: the converter writes tensor by tensor, `llama_model_quantize` works a tensor at a
time, llama.cpp maps its models, and a checkpoint too large to hold as float32 is streamed weight by
weight (studio.evaluation.streamed). So what grows with the model is the largest tensor (the embedding
or output matrix of a Llama-family model), not the parameter count.
"""
from __future__ import annotations

from dataclasses import dataclass

from studio.models import ModelFacts
from studio.stages import Stage

MiB = 2**20
# Anonymous memory of the processes with their libraries imported and nothing loaded, measured on this
# project's machines (RssAnon; their maximum RSS is higher: it counts the libraries' mapped pages).
CONVERTER_FLOOR = 120 * MiB  # llama.cpp's converter: Python, torch, gguf-py
JOB_FLOOR = 50 * MiB  # the job process, where llama_model_quantize runs
EVALUATION_FLOOR = 150 * MiB  # the evaluation process with llama-cpp-python
TORCH_EXTRA = 350 * MiB  # torch and transformers on top, for the pass against the checkpoint
# Bytes per element of the largest tensor held at once, fitted on SmolLM2-135M and the 1 B shape: the
# converter reads it (16-bit), upcasts to float32 and writes float16; the quantizer converts to float32 and
# packs; a streamed checkpoint reads 16-bit and computes in float32.
CONVERT_BYTES_PER_ELEMENT = 8
QUANTIZE_BYTES_PER_ELEMENT = 5
STREAM_BYTES_PER_ELEMENT = 6
# llama.cpp's CPU backend copies the 4-bit matrices it has faster kernels for (Q4_0, Q4_K, IQ4_NL) into an
# interleaved layout in anonymous memory ("CPU_REPACK model buffer"): that share of a file's layer weights
# is held twice. Q4_K_M keeps attn_v and half of ffn_down at Q6_K (1 B shape: 455 of 520 MiB repacked).
# k-quant rows must be multiples of 256: when the hidden size is not, those matrices fall back to other types.
REPACKED_SHARE = {"Q4_0": 1.0, "IQ4_NL": 1.0, "Q4_K_S": 0.95, "Q4_K_M": 0.87}
REPACKED_BPW = 4.5
SCORED_ROWS = 256  # one chunk's scored positions at the default n_ctx 512, held as float64 while scoring
BATCH = 512  # llama.cpp's compute buffer holds a batch's logits


@dataclass(frozen=True)
class Budget:
    """What a job's stages are sized against: the RAM available now (the checkpoint is held or streamed
    against it), and whether the family's stages run on a GPU (there in 16 bits, never streamed)."""
    ram_available: int
    on_gpu: bool = False


def largest_tensor_elements(model: ModelFacts) -> int:
    """The embedding matrix (vocab x hidden), the largest tensor of Llama-family models; without those facts,
    an eighth of the parameters (an upper bound for any model with at least eight matrices)."""
    if model.vocab_size and model.hidden_size:
        return model.vocab_size * model.hidden_size
    return model.n_params // 8


def gguf_stages(model: ModelFacts, gguf_type: str, checkpoint_kld: bool, ram_available: int) -> dict[Stage, int]:
    """Anonymous bytes per stage of a GGUF job. The evaluation holds two llama.cpp contexts (the model and
    its F16 base in lockstep) and the model's repacked matrices; the F16 base is never repacked."""
    largest = largest_tensor_elements(model)
    context = llama_context_bytes(model)
    evaluation = EVALUATION_FLOOR + _scoring_bytes(model) + repacked_bytes(model, gguf_type)
    stages = {Stage.CONVERT: CONVERTER_FLOOR + CONVERT_BYTES_PER_ELEMENT * largest,
              Stage.QUANTIZE: JOB_FLOOR + QUANTIZE_BYTES_PER_ELEMENT * largest,
              Stage.EVALUATE: evaluation + 2 * context}
    if checkpoint_kld:
        stages[Stage.CHECKPOINT_DIVERGENCE] = evaluation + context + checkpoint_bytes(model, ram_available)
    return stages


def checkpoint_bytes(model: ModelFacts, ram_available: int) -> int:
    """The checkpoint as a base to compare with, torch included: resident float32 when that fits (the rule
    of studio.evaluation.torch_backend.open_checkpoint), else streamed."""
    from studio.evaluation.torch_backend import holds_resident
    resident = 4 * model.n_params
    if holds_resident(resident, ram_available):
        return TORCH_EXTRA + resident
    return TORCH_EXTRA + STREAM_BYTES_PER_ELEMENT * largest_tensor_elements(model)


def repacked_bytes(model: ModelFacts, gguf_type: str) -> int:
    share = REPACKED_SHARE.get(gguf_type, 0.0)
    if "_K" in gguf_type and (model.hidden_size or 0) % 256:
        share = 0.0
    embeddings = 2 * largest_tensor_elements(model)
    return int(share * max(model.n_params - embeddings, 0) * REPACKED_BPW / 8)


def llama_context_bytes(model: ModelFacts) -> int:
    """A llama.cpp context at the evaluation's batch: its compute buffer (the KV cache at n_ctx 512 is a few MiB
    beside it)."""
    return llama_compute_buffer_bytes(model.vocab_size or 32_000, model.hidden_size or 4096)


def llama_compute_buffer_bytes(vocab: int, hidden: int) -> int:
    """llama.cpp's compute buffer for a BATCH-token forward pass with flash attention: the batch's float32 logits
    and about three hidden-size activations per token (its own figure within 7 % on SmolLM2, the 1 B and 8 B
    shapes and Gemma 2: tests/test_footprint.py)."""
    return 4 * BATCH * (vocab + 3 * hidden)


def _scoring_bytes(model: ModelFacts) -> int:
    return 8 * SCORED_ROWS * (model.vocab_size or 32_000)


# The studio's own HF formats and the torch evaluation, measured the same way (135 M and the 1 B shape).
PACKED_QUANTIZE_FLOOR = 270 * MiB  # the quantizing process: torch, transformers, the model's skeleton on meta
HF_EVALUATION_FLOOR = 300 * MiB  # the evaluation process: torch, transformers, the tokenizer, a chunk's activations
# Quantizing a linear layer holds its float32 copy and a few float32 temporaries (|w|, w / scale, rounded):
# bytes per element, measured on the 8 B shape, whose 4096 x 14336 MLP projections outweigh its embedding.
QUANTIZE_TEMPORARIES = 12
RESIDENT_LOAD_SLACK = 1.06  # a model loaded as float32 holds a little more than its float32 copy (measured)
LOGITS_KEPT = 256  # the scored positions' logits, float32 (chunk_logits keeps only those rows)


def packed_quantize_bytes(model: ModelFacts) -> int:
    """Quantizing into the packed checkpoint reads one tensor at a time and writes it out at once: the larger of
    the largest tensor as stored (with its 16-bit copy when the checkpoint is float32) and the float32
    temporaries of quantizing the largest linear layer."""
    stored = max(round(model.weight_bytes / max(model.n_params, 1)), 1)
    kept = (stored + (2 if stored > 2 else 0)) * largest_tensor_elements(model)
    return PACKED_QUANTIZE_FLOOR + max(kept, QUANTIZE_TEMPORARIES * largest_linear_elements(model))


# GPTQModel (GPTQ, AWQ) reads the decoder layers lazily from the checkpoint and quantizes one at a time: what stays
# in anonymous memory is its libraries, the embeddings in 16 bits, the layer being quantized in float32 with its
# working copies, that layer's Hessians and the calibration activations. Fitted on RssAnon here: SmolLM2-135M GPTQ
# 16×256 803 MiB, AWQ 4×128 776 MiB; the 1 B shape GPTQ 4×128 1,685 MiB (the whole model in bf16 would be 2.2 GiB).
GPTQMODEL_FLOOR = 660 * MiB  # torch, transformers and GPTQModel imported
GPTQMODEL_LAYER_COPIES = 1.6  # float32 copies of the layer being quantized


def gptqmodel_quantize_bytes(model: ModelFacts, samples: int, seq_len: int) -> int:
    hidden = model.hidden_size or 4096
    widest = model.intermediate_size or 4 * hidden
    if model.shape is not None:
        layer = sum(rows * cols for name, rows, cols in model.shape.linears() if name.startswith("model.layers.0."))
        embeddings = 2 * model.shape.embedding_elements()
    else:
        layer, embeddings = 4 * hidden ** 2 + 3 * hidden * widest, 4 * hidden * (model.vocab_size or 128_256)
    activations = samples * seq_len * hidden * 4 * 4  # inputs and outputs of every window, with working copies
    hessians = (6 * hidden ** 2 + widest ** 2) * 4  # an in_features² float32 matrix per linear of the layer
    return GPTQMODEL_FLOOR + embeddings + int(GPTQMODEL_LAYER_COPIES * 4 * layer) + hessians + activations


def largest_linear_elements(model: ModelFacts) -> int:
    """An MLP projection (hidden x intermediate); without those facts, four hidden x hidden matrices' worth."""
    hidden = model.hidden_size or 4096
    return hidden * (model.intermediate_size or 4 * hidden)


# vLLM's CPU build checking a result (studio.serving.check): three processes (the driver, its engine core, one worker)
# with torch and vLLM imported, about 1.7 GiB anonymous in all beside the weights, the KV cache and one chunk's
# log-probabilities over the vocabulary (the probe schedules a chunk a step). SmolLM2, sampled every 50 ms: W8A8
# export 3.01 GiB at peak over 20 chunks, GPTQ 3.02 GiB, each with 0.1 GB of weights, the 1 GiB of KV space the check
# asks for and 0.3 GB of log-probabilities.
VLLM_FLOOR_BYTES = 1700 * MiB
VLLM_KV_BYTES = 2**30  # VLLM_CPU_KVCACHE_SPACE=1: the checks' contexts are one evaluation chunk
VLLM_LOGPROB_COPIES = 3  # the logits, their log-softmax and the gathered rows, float32, for a 512-token chunk


def vllm_check_bytes(model: ModelFacts, served_bytes: int) -> int:
    """The serving check's peak: vLLM's floor, its KV space, the weights as served (stored as quantized) and one
    512-token chunk's log-probabilities over the vocabulary."""
    logprobs = VLLM_LOGPROB_COPIES * 512 * (model.vocab_size or 0) * 4
    return VLLM_FLOOR_BYTES + VLLM_KV_BYTES + served_bytes + logprobs


def hf_evaluation_bytes(model: ModelFacts, budget: Budget, streamable: bool, held_quantized: int | None = None) -> int:
    """The quantized model and the checkpoint run in lockstep. On a GPU both are held in 16 bits. On the CPU each
    is held as float32 when that fits (the rule of torch_backend.holds_resident, asked first for the model, then
    for the checkpoint with what is left) and otherwise streamed; streamed models read one tensor at a time
    between them. A model that cannot be streamed (a format transformers loads) is held whatever it takes: as
    `held_quantized` bytes when its weights stay quantized in memory (bitsandbytes), else as float32."""
    from studio.evaluation.torch_backend import holds_resident
    if budget.on_gpu:
        return HF_EVALUATION_FLOOR + 2 * int(RESIDENT_LOAD_SLACK * 2 * model.n_params)
    float32 = 4 * model.n_params
    held = int(RESIDENT_LOAD_SLACK * float32)
    if streamable:
        quantized = held if holds_resident(float32, budget.ram_available) else 0
    else:
        quantized = held if held_quantized is None else held_quantized
    base = held if holds_resident(float32, budget.ram_available - quantized) else 0
    streamed = STREAM_BYTES_PER_ELEMENT * largest_tensor_elements(model) if not (quantized and base) else 0
    vocab = model.vocab_size or 32_000
    return HF_EVALUATION_FLOOR + _scoring_bytes(model) + 4 * LOGITS_KEPT * vocab + quantized + base + streamed
