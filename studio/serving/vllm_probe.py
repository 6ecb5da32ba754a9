"""Runs inside vLLM's own environment (studio.serving.vllm_env), not the studio's: it imports vLLM and the
standard library only. `python vllm_probe.py REQUEST.json RESULT.json`.

The request names a folder, the token ids of the studio's evaluation chunks and the prompts' ids; the result
holds, per chunk, vLLM's log-probability of each scored token (`prompt_logprobs`: entry j is log p(ids[j] |
ids[:j]), the first entry None) and the greedy continuation of each prompt, as token ids. The studio does the
arithmetic (studio.serving.check), so both perplexities come from one formula. A failure to load leaves no
RESULT file; vLLM's own reason is on stderr, where its engine process writes it.
"""
import json
import os
import sys
import time


def main(request_path: str, result_path: str) -> int:
    request = json.loads(open(request_path).read())
    from vllm import LLM, SamplingParams, __version__
    from vllm.inputs import TokensPrompt

    t0 = time.perf_counter()
    # One chunk a step: prompt_logprobs holds the whole vocabulary's log-probabilities for every token of a step,
    # so the memory stays one chunk's, however many chunks the job scores.
    llm = LLM(model=request["model"], quantization=request["quantization"], dtype=request["dtype"],
              max_model_len=request["max_model_len"], max_num_batched_tokens=request["max_model_len"],
              enforce_eager=True, seed=0, trust_remote_code=False)
    load_seconds = time.perf_counter() - t0
    print("@vllm-loaded", flush=True)  # studio.serving.check.LOADED: what fails from here on, fails running
    first = request["first_scored"]
    t1 = time.perf_counter()
    scored = llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in request["chunks"]],
                          SamplingParams(prompt_logprobs=0, max_tokens=1, temperature=0.0), use_tqdm=False)
    chunk_logprobs = [[out.prompt_logprobs[j][ids[j]].logprob for j in range(first + 1, len(ids))]
                      for out, ids in zip(scored, request["chunks"])]
    score_seconds = time.perf_counter() - t1
    generated = llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in request["prompts"]],
                             SamplingParams(temperature=0.0, max_tokens=request["max_new_tokens"]),
                             use_tqdm=False) if request["prompts"] else []
    result = {"vllm_version": __version__, "load_seconds": load_seconds, "score_seconds": score_seconds,
              "chunk_logprobs": chunk_logprobs,
              "generations": [list(out.outputs[0].token_ids) for out in generated]}
    partial = result_path + ".partial"
    with open(partial, "w") as f:
        json.dump(result, f)
    os.replace(partial, result_path)
    # Stop the engine's processes now, while everything is alive: left to interpreter exit, its threads sometimes
    # abort the process ("terminate called without an active exception") after the result is written.
    llm.llm_engine.engine_core.shutdown()
    return 0


if __name__ == "__main__":  # vLLM's CPU engine starts its workers by spawning: they re-import this file
    sys.exit(main(sys.argv[1], sys.argv[2]))
