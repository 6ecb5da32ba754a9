"""A bare torch perplexity loop: the artifact loaded the way its README snippet says, then one
forward per chunk of the studio's token ids and a cross-entropy over the scored half. Nothing of the
studio's evaluation is used. The reference for the HF perplexity + KLD benchmark.

python bench/bare_torch_perplexity.py RECIPE ARTIFACT TOKENS.npy BOS CHUNKS  → JSON on stdout
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from studio.recipes import get

N_CTX = 512


def main() -> None:
    recipe, artifact, tokens_path, bos, chunks = sys.argv[1:6]
    model = get(recipe).load(Path(artifact), "cpu")
    tokens = torch.from_numpy(np.load(tokens_path).astype(np.int64))
    nll, scored = 0.0, 0
    with torch.inference_mode():
        for c in range(int(chunks)):
            ids = tokens[c * N_CTX:(c + 1) * N_CTX].clone()
            if bos != "none":
                ids[0] = int(bos)
            logits = model(ids[None], use_cache=False).logits[0, N_CTX // 2:N_CTX - 1]
            nll += float(torch.nn.functional.cross_entropy(logits.double(), ids[N_CTX // 2 + 1:], reduction="sum"))
            scored += N_CTX - 1 - N_CTX // 2
    print(json.dumps({"ppl": math.exp(nll / scored)}))


if __name__ == "__main__":
    main()
