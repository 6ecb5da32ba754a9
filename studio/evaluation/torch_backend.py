"""Evaluation of Hugging Face-format models with torch: the same protocol as the llama.cpp backend
(same chunks, same scored positions, float64 scoring), on logits from a torch forward pass."""
from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Callable

import numpy as np

from studio.evaluation.protocol import Logits, PassHooks, Protocol, Scores, score_chunks
from studio.evaluation.streamed import SafetensorsWeights, StreamError, is_streamed, load_streamed


def compute_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def compute_dtype(device: str):
    """float32 on CPU (half-precision matmuls there are slow or missing); bf16 where the GPU has it."""
    import torch
    if device == "cpu":
        return torch.float32
    return torch.bfloat16 if torch.cuda.get_device_capability()[0] >= 8 else torch.float16


def load_checkpoint(path: Path, dtype=None, device: str | None = None, **kwargs):
    """The model as the checkpoint stores it: safetensors only and no remote code, unless the user
    opted in (STUDIO_ALLOW_PICKLE, STUDIO_TRUST_REMOTE_CODE, passed on to every job process)."""
    from transformers import AutoModelForCausalLM

    from studio.config import Settings
    settings = Settings.from_env()
    device = device or compute_device()
    model = AutoModelForCausalLM.from_pretrained(
        str(path), dtype=dtype or compute_dtype(device), device_map=device,
        use_safetensors=None if settings.allow_pickle else True, trust_remote_code=settings.trust_remote_code,
        **kwargs)
    return model.eval()


# A checkpoint is held in memory (float32, the fast way) when that copy takes at most this share of the RAM
# available; past it, it is streamed weight by weight (see streamed.py), leaving room for the model it is compared with.
RESIDENT_SHARE = 0.5


def open_checkpoint(path: Path, device: str):
    """The checkpoint as the base to compare with: resident when it fits (see RESIDENT_SHARE), else streamed.
    On a GPU it is loaded as before (in the compute dtype)."""
    if device == "cpu" and (need := checkpoint_float32_bytes(path)) is not None and must_stream(need):
        return load_streamed(path)
    return load_checkpoint(path, device=device)


def holds_resident(float32_bytes: int, ram_available: int) -> bool:
    """The one rule for holding a checkpoint as float32 rather than streaming it (the preflight's memory
    model asks it too)."""
    return float32_bytes <= RESIDENT_SHARE * ram_available


def must_stream(float32_bytes: int) -> bool:
    """Whether a model of `float32_bytes` is streamed on the CPU now; says why in the job's log when it is."""
    import psutil
    available = psutil.virtual_memory().available
    if holds_resident(float32_bytes, available):
        return False
    print(f"the model is streamed weight by weight: as float32 it takes {float32_bytes / 2**30:.1f} GiB, "
          f"more than {RESIDENT_SHARE:.0%} of the {available / 2**30:.1f} GiB available", flush=True)
    return True


def checkpoint_float32_bytes(path: Path) -> int | None:
    """The checkpoint's weights as float32, from its safetensors headers; None for other formats."""
    try:
        return SafetensorsWeights(path).float32_bytes()
    except StreamError:
        return None


def tokenize(checkpoint: Path, text: str) -> tuple[np.ndarray, int | None]:
    """Token ids of the whole text with the checkpoint's tokenizer, and the BOS to put at the start
    of each chunk when the tokenizer adds one (as llama-perplexity does with llama.cpp's)."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(checkpoint), trust_remote_code=False)
    ids = tok(text, add_special_tokens=True).input_ids
    adds_bos = tok.bos_token_id is not None and tok("a", add_special_tokens=True).input_ids[:1] == [tok.bos_token_id]
    return np.asarray(ids, dtype=np.int32), tok.bos_token_id if adds_bos else None


def chunk_logits(model, chunk: list[int], protocol: Protocol) -> np.ndarray:
    """The logits at the chunk's scored positions; the output layer runs on those rows only
    (`logits_to_keep`) where the model's forward takes it."""
    import torch
    device = input_device(model)
    positions = protocol.scored_positions
    kwargs = {"logits_to_keep": len(chunk) - positions.start} if _keeps_logits(model) else {}
    with torch.inference_mode():
        logits = model(torch.tensor([chunk], device=device), use_cache=False, **kwargs).logits[0]
    rows = logits[positions.start - len(chunk) + logits.shape[0]:][:len(positions)]
    return rows.float().cpu().numpy()


def input_device(model):
    """Where a model's inputs go: its weights' device, or the CPU for a streamed one (weights on meta)."""
    import torch
    return torch.device("cpu") if is_streamed(model) else next(model.parameters()).device


def _keeps_logits(model) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def perplexity_nll(model, tokens: np.ndarray, bos: int | None, protocol: Protocol,
                   hooks: PassHooks = PassHooks(), open_base: Callable[[], object] | None = None) -> Scores:
    """The scores of every chunk and, when `open_base` loads a base model, the divergence statistics
    against it (opened after the model's first chunk): see `score_chunks` and `PassHooks`."""
    def base_logits() -> Logits:
        base = open_base()
        return lambda chunk: chunk_logits(base, chunk, protocol)

    return score_chunks(protocol, tokens, bos, lambda chunk: chunk_logits(model, chunk, protocol), hooks.progress,
                        hooks.opener(base_logits) if open_base is not None else None, hooks.first_look)


STREAMED_GENERATIONS = ("skipped: the model does not fit in RAM as float32 and is streamed weight by weight; "
                        "each new token would read every weight again")


def generations(model, tokenizer_path: Path, prompts: list[str], max_new_tokens: int) -> dict:
    """Greedy generations with the KV cache and the decode tokens/s over them (prefill excluded)."""
    from transformers import AutoTokenizer
    if not prompts or max_new_tokens < 1:
        return {"decode_tok_s": 0.0, "generations": []}
    if is_streamed(model):
        return {"decode_tok_s": 0.0, "generations": [], "generations_skipped": STREAMED_GENERATIONS}
    tok = AutoTokenizer.from_pretrained(str(tokenizer_path), trust_remote_code=False)
    out, decoded, seconds = [], 0, 0.0
    for text in prompts:
        generated, n_decoded, secs, n_new = _generate(model, tok, text, max_new_tokens)
        out.append({"prompt": text, "text": generated, "n_tokens": n_new})
        decoded += n_decoded
        seconds += secs
    return {"decode_tok_s": decoded / seconds if seconds else 0.0, "generations": out}


def _sync(device) -> None:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def prompt_ids(tok, prompt: str) -> list[int]:
    """A prompt as the model is asked it: through its chat template when it has one."""
    if tok.chat_template:
        return list(tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            tokenize=True, return_dict=True)["input_ids"])
    return list(tok(prompt).input_ids)


def _generate(model, tok, prompt: str, max_new_tokens: int) -> tuple[str, int, float, int]:
    """Greedy decoding with the KV cache, timed from the first new token (prefill excluded)."""
    import torch
    device = next(model.parameters()).device
    ids = prompt_ids(tok, prompt)
    stop = set(_as_list(model.generation_config.eos_token_id) + _as_list(tok.eos_token_id))
    new: list[int] = []
    decoded, t_first = 0, None
    with torch.inference_mode():
        out = model(torch.tensor([ids], device=device), use_cache=True)
        while True:
            next_id = int(out.logits[0, -1].argmax())
            if t_first is None:
                _sync(device)
                t_first = time.perf_counter()
            if next_id in stop:
                break
            new.append(next_id)
            if len(new) >= max_new_tokens:
                break
            out = model(torch.tensor([[next_id]], device=device), past_key_values=out.past_key_values, use_cache=True)
            decoded += 1
    _sync(device)
    seconds = time.perf_counter() - t_first
    return tok.decode(new, skip_special_tokens=True), decoded, seconds, len(new)


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
