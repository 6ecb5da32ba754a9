"""Sample prompts are counted at preflight, with the model's tokenizer and chat template, against the context
their generations run in; their number and every free-text field of a request are capped."""
from __future__ import annotations

import pytest

import jobs.queue
from studio import cli, service
from studio.preflight import PreflightError, run_preflight


@pytest.fixture(scope="module")
def long_prompt(eval_text) -> str:
    return " ".join(eval_text.read_text().split()[:3000])


def _refusal(settings, tiny, eval_text, recipe: str, prompts: list[str], max_new: int = 8) -> list[str]:
    with pytest.raises(PreflightError) as refused:
        run_preflight(settings, str(tiny), [recipe], eval_text, 128, 2, {}, max_new, prompts)
    return refused.value.reasons


def _generated_tokens(tiny, prompt: str) -> int:
    """The count the torch backend feeds its generation, by transformers' own chat templating."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(tiny))
    return len(tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                       tokenize=True, return_dict=True)["input_ids"])


@pytest.mark.parametrize("recipe, limit, why", [
    ("gguf:Q8_0", 512, "as llama.cpp generates in a context of 512 + 8 tokens (max new tokens)"),
    ("int8-rtn", 2040, "as the model is made for 2048 tokens (max_position_embeddings), 8 of them for new tokens"),
])
def test_a_3000_word_prompt_is_refused_with_its_token_count_and_the_limit(settings, tiny, eval_text, long_prompt,
                                                                          recipe, limit, why):
    reasons = _refusal(settings, tiny, eval_text, recipe, ["Write a haiku.", long_prompt])
    n = _generated_tokens(tiny, long_prompt)
    assert reasons == [f"prompt 2 has {n:,} tokens with this model's tokenizer and chat template; at most "
                       f"{limit:,} fit, {why}: shorten it"]


def test_a_prompt_that_fits_the_generation_context_is_accepted(settings, tiny, eval_text, long_prompt):
    prompt = " ".join(long_prompt.split()[:300])
    assert 400 < _generated_tokens(tiny, prompt) < 512
    plan = run_preflight(settings, str(tiny), ["gguf:Q8_0"], eval_text, 128, 2, {}, 8, [prompt])
    assert [j.label for j in plan.jobs] == ["gguf:Q8_0"]


@pytest.mark.parametrize("prompts, expected", [
    ([f"prompt {i}" for i in range(9)], "9 sample prompts; the limit is 8 (every job generates from each)"),
    (["ok", "x" * (64 * 1024 + 1)], "prompt 2 is 65,537 characters long; the limit is 65,536"),
    (["caf\ud800"], "prompt 1 is not valid Unicode text (a lone surrogate at character 4)"),
])
def test_too_many_or_too_big_prompts_are_refused_before_tokenizing(settings, tiny, eval_text, prompts, expected):
    reasons = _refusal(settings, tiny, eval_text, "gguf:Q8_0", prompts)
    assert any(reason.startswith(expected) for reason in reasons), reasons


def test_the_cli_and_the_new_job_tab_refuse_a_prompt_too_long(settings, tiny, eval_text, long_prompt, capsys):
    args = ["quantize", "--model", str(tiny), "--recipe", "gguf:Q8_0", "--eval-text", str(eval_text),
            "--ctx", "128", "--max-chunks", "2", "--max-new-tokens", "8", "--prompt", long_prompt]
    assert cli.main(jobs.queue, args) == 2
    assert "prompt 1 has" in capsys.readouterr().err
    request = service.JobRequest(model=str(tiny), recipes=("gguf:Q8_0",), eval_text=eval_text, n_ctx=128,
                                 max_chunks=2, max_new_tokens=8, prompts=(long_prompt,))
    with pytest.raises(PreflightError, match="prompt 1 has .* tokens"):
        service.preflight(settings, request)
    assert service.list_jobs(settings) == []
