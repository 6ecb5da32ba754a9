"""A bare torch perplexity loop: the artifact loaded the way its README snippet says, then one
forward per chunk of the studio's token ids (logits of the scored half only) and a cross-entropy
over them; with --base,
the checkpoint runs alongside and the mean KL(base || model) is computed too. Nothing of the
studio's evaluation is used. The references for the HF perplexity + KLD benchmark.

python bench/bare_torch_perplexity.py RECIPE ARTIFACT TOKENS.npy BOS CHUNKS [--base CHECKPOINT]  → JSON on stdout
"""
import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from studio.recipes import get

N_CTX = 512
FIRST = N_CTX // 2


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("recipe", "artifact", "tokens", "bos"):
        p.add_argument(name)
    p.add_argument("chunks", type=int)
    p.add_argument("--base")
    a = p.parse_args()
    model = get(a.recipe).load(Path(a.artifact), "cpu")
    base = AutoModelForCausalLM.from_pretrained(a.base, dtype=torch.float32).eval() if a.base else None
    tokens = torch.from_numpy(np.load(a.tokens).astype(np.int64))
    nll, kld, scored = 0.0, 0.0, 0
    keep = {"logits_to_keep": N_CTX - FIRST}  # the output layer on the scored half only
    with torch.inference_mode():
        for c in range(a.chunks):
            ids = tokens[c * N_CTX:(c + 1) * N_CTX].clone()
            if a.bos != "none":
                ids[0] = int(a.bos)
            logits = model(ids[None], use_cache=False, **keep).logits[0, -(N_CTX - FIRST):-1].double()
            nll += float(torch.nn.functional.cross_entropy(logits, ids[FIRST + 1:], reduction="sum"))
            if base is not None:
                base_logits = base(ids[None], use_cache=False, **keep).logits[0, -(N_CTX - FIRST):-1].double()
                kld += float(torch.nn.functional.kl_div(logits.log_softmax(-1), base_logits.log_softmax(-1),
                                                        log_target=True, reduction="sum"))
            scored += N_CTX - 1 - FIRST
    print(json.dumps({"ppl": math.exp(nll / scored), "kld": kld / scored if base is not None else None}))


if __name__ == "__main__":
    main()
