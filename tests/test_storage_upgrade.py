"""A database written before the recipe's name had a column of its own opens with every row named: the name
is read from the old label once, at the upgrade, and never parsed again."""
from __future__ import annotations

import sqlite3

from sqlmodel import select

from studio.storage import Job, Result, reading

OLD_JOB_LABELS = {"gguf:Q2_K+imatrix": "gguf", "gguf:Q4_K_M": "gguf", "int8-rtn": "int8-rtn", "fp8": "fp8",
                  "ollama:import": "ollama:import"}


def _old_database(path) -> None:
    """Today's tables, then the recipe_name columns, the columns later revisions add and the migrations' version
    table dropped: the schema of the release before them (and before migrations)."""
    from studio.storage import engine_for
    url = f"sqlite:///{path}"
    engine_for(url).dispose()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE alembic_version")
        for table in ("job", "result"):
            db.execute(f"ALTER TABLE {table} DROP COLUMN recipe_name")
        db.execute("ALTER TABLE result DROP COLUMN serving")  # revision 0003's: newer than that release
        for label in OLD_JOB_LABELS:
            db.execute("INSERT INTO job (model, model_key, recipe, options, eval_text_path, eval_text_sha, n_ctx, "
                       "prompts, max_new_tokens, dedupe_key, state, stage, progress, cancel_requested, created_at) "
                       "VALUES ('m', 'k', ?, '{}', 't', 's', 512, '[]', 64, ?, 'done', 'done', 1.0, 0, "
                       "'2026-12-01 00:00:00')", (label, label))
        for label, is_base in (("gguf:Q2_K+imatrix", 0), ("gguf:base (F16)", 1), ("hf:base (checkpoint)", 1)):
            db.execute("INSERT INTO result (job_id, model, model_key, recipe, family, is_base, base_key, artifact, "
                       "size_bytes, n_params, bpw, tensor_types, fallback_tensors, ppl, nll_sum, n_ctx, n_chunks, "
                       "n_tokens_scored, prefill_tok_s, decode_tok_s, peak_rss_bytes, emulated, divergence, "
                       "eval_text_sha, created_at) VALUES (NULL, 'm', 'k', ?, 'gguf', ?, ?, 'a', 1, 1, 1.0, '{}', 0, "
                       "1.0, 1.0, 512, 1, 1, 1.0, 1.0, 1, 0, '{}', 's', '2026-12-01 00:00:00')",
                       (label, is_base, f"gguf:k:s:ctx512:chunks1:{label}"))


def test_rows_of_the_previous_schema_get_their_recipe_names(tmp_path):
    path = tmp_path / "old.db"
    _old_database(path)
    from studio import storage
    storage._engines.clear()  # a new process, as after the upgrade: the engine migrates the file it opens
    with reading(f"sqlite:///{path}") as s:
        jobs = {j.recipe: j.recipe_name for j in s.exec(select(Job)).all()}
        results = {r.recipe: r.recipe_name for r in s.exec(select(Result)).all()}
    assert jobs == OLD_JOB_LABELS
    assert results == {"gguf:Q2_K+imatrix": "gguf", "gguf:base (F16)": None, "hf:base (checkpoint)": None}
