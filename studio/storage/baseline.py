"""The schema of the last release before migrations (2026-12-03), frozen: revision 0001 creates it, and a
database that release (or an earlier one) created is brought to it once and stamped 0001. Never edit it: a
change to the tables is a new revision in `migrations/versions/`."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, text
from sqlmodel.sql.sqltypes import UTCDateTime

BASELINE = MetaData()


def _id() -> Column:
    return Column("id", Integer, primary_key=True)


def _text(name: str, nullable: bool = False, **kw) -> Column:
    return Column(name, String, nullable=nullable, **kw)


def _int(name: str, nullable: bool = False, **kw) -> Column:
    return Column(name, Integer, nullable=nullable, **kw)


def _float(name: str, nullable: bool = False) -> Column:
    return Column(name, Float, nullable=nullable)


def _json(name: str) -> Column:
    return Column(name, JSON, nullable=True)


def _time(name: str, nullable: bool = True) -> Column:
    return Column(name, UTCDateTime, nullable=nullable)


Table("job", BASELINE, _id(), _text("model", index=True), _text("model_key", index=True), _text("recipe"),
      _text("recipe_name", True), _json("options"), _text("eval_text_path"), _text("eval_text_sha"), _int("n_ctx"),
      _int("max_chunks", True), _json("prompts"), _int("max_new_tokens"), _text("dedupe_key", index=True),
      _text("state", index=True), _text("stage"), _float("progress"), _float("eta_seconds", True), _json("stages"),
      _int("stage_number", server_default="0"), _time("stage_started_at"), _float("expected_seconds", True),
      _json("stage_plan"), _text("error", True), _int("pid", True), _text("worker", True), _time("heartbeat_at"),
      Column("cancel_requested", Boolean, nullable=False), _time("created_at", False), _time("started_at"),
      _time("finished_at"))

Table("joblog", BASELINE, _id(), Column("job_id", Integer, ForeignKey("job.id"), nullable=False, index=True),
      _time("at", False), _text("line"))

Table("result", BASELINE, _id(), _int("job_id", True, index=True), _text("model", index=True),
      _text("model_key", index=True), _text("recipe"), _text("recipe_name", True), _text("family"),
      Column("is_base", Boolean, nullable=False), _text("base_key", index=True), _text("artifact"), _int("size_bytes"),
      _int("n_params"), _float("bpw"), _json("tensor_types"), _json("made_with"), _int("fallback_tensors"),
      _float("ppl"), _float("nll_sum"), _int("n_ctx"), _int("n_chunks"), _int("n_tokens_scored"),
      _float("prefill_tok_s"), _float("decode_tok_s"), _int("peak_rss_bytes"), _int("peak_vram_bytes", True),
      Column("emulated", Boolean, nullable=False), _json("divergence"), _text("generations_skipped", True),
      _float("quant_seconds", True), _float("load_seconds", True), _json("pending"), _int("filled_by", True),
      _float("cpu_share", True), _float("load_average", True), _text("eval_text_sha"), _time("created_at", False),
      Index("one_base_row_per_key", "base_key", unique=True, sqlite_where=text("is_base"),
            postgresql_where=text("is_base")))

Table("generation", BASELINE, _id(),
      Column("result_id", Integer, ForeignKey("result.id"), nullable=False, index=True), _int("prompt_index"),
      _text("prompt"), _text("text"), _int("n_tokens"))

Table("sensitivitymap", BASELINE, _id(), _int("job_id", index=True), _text("family", server_default="gguf"),
      _text("model"), _text("model_key", index=True), _text("calibration_sha"), _int("n_ctx"), _int("n_chunks"),
      _int("tokens_scored"), _text("high_type"), _json("low_types"), _json("added_kld"), _float("baseline_kld"),
      _json("relative_error"), _float("seconds"), _time("created_at", False))

Table("ollama_import", BASELINE, _id(), Column("job_id", Integer, ForeignKey("job.id"), nullable=False, index=True),
      Column("result_id", Integer, ForeignKey("result.id"), nullable=False, index=True), _text("name"),
      _text("host"), _text("server_version"), _text("digest"), Column("uploaded", Boolean, nullable=False),
      _text("modelfile"), _text("smoke_prompt"), _text("smoke_answer"), _json("show"), _float("seconds"),
      _time("created_at", False))

Table("ollama_pending", BASELINE, Column("job_id", Integer, ForeignKey("job.id"), primary_key=True),
      _text("host"), _text("name"), Column("existed", Boolean, nullable=False), _time("created_at", False))
