"""`python -m studio.recipes.gptqmodel_process REQUEST.json`: one GPTQModel quantization (GPTQ or
AWQ) in its own process, so its threads, compiled kernels and memory go away with it."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def run(request: dict) -> None:
    import torch
    from gptqmodel import GPTQModel, QuantizeConfig
    from gptqmodel.quantization import FORMAT, METHOD
    from transformers import AutoTokenizer

    from studio.recipes.calibration import calibration_windows
    from studio.evaluation.torch_backend import compute_device

    c = request["config"]
    config = QuantizeConfig(
        bits=c["bits"], group_size=c["group_size"], sym=c["sym"], desc_act=c.get("desc_act", False),
        damp_percent=c.get("damp_percent", 0.05), dynamic=c.get("dynamic"),
        quant_method=METHOD.AWQ if request["method"] == "awq" else METHOD.GPTQ,
        format=FORMAT.GEMM if request["method"] == "awq" else FORMAT.GPTQ,
        offload_to_disk_path=request["scratch"])
    tokenizer = AutoTokenizer.from_pretrained(request["model"])
    windows = calibration_windows(tokenizer, Path(request["calibration"]), c["samples"], c["seq_len"])
    print(f"calibration: {len(windows)} windows of {c['seq_len']} tokens", flush=True)
    # AWQ's scale search runs in 16-bit; GPTQ is fine with the checkpoint's dtype.
    dtype = torch.bfloat16 if request["method"] == "awq" else "auto"
    model = GPTQModel.load(request["model"], config, device=compute_device(), dtype=dtype)
    model.quantize(windows, batch_size=1)
    model.save(request["out"])


def main() -> None:
    os.environ.setdefault("GPTQMODEL_CPU_WORKERS", str(os.cpu_count() or 1))
    request = json.loads(Path(sys.argv[1]).read_text())
    os.chdir(request["scratch"])  # GPTQModel writes its logs/ folder into the working directory
    run(request)


if __name__ == "__main__":
    main()
