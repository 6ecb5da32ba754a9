"""Fixtures that build real things: a real checkpoint, a real workspace with SQLite, real subprocesses."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.config import REPO_ROOT, Settings
from tests.fleet import free_port
from tests.models import build_gemma3_checkpoint, build_smollm2_checkpoint, build_tiny_llama, smollm2_gguf
from tests.ollama_standin import OllamaStandIn, smollm2_q4_k_m, store_gguf_result
from tests.postgres import PostgresCluster, server_bin

# A run started in the background by a non-interactive shell (a CI script, `make test &`) inherits SIGINT
# ignored, and every program it starts would too: Python then never turns SIGINT into KeyboardInterrupt, so
# the Ctrl-C a test sends to the CLI, or the stop it sends a studio, would be lost. Handled here, SIGINT
# reaches each child at its default, as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

SHARED_TEXT = REPO_ROOT.parent / "shared" / "data" / "wikitext-2-raw-test.txt"
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def studio_cache() -> Path:
    """Shared across runs: llama.cpp's converter and the SmolLM2 checkpoint are built once per machine."""
    path = Path(os.environ.get("STUDIO_CACHE", Path.home() / ".cache" / "quantization-studio"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def smol(studio_cache) -> Path:
    return build_smollm2_checkpoint(studio_cache / "test-models")


@pytest.fixture(scope="session")
def gemma3(studio_cache) -> Path:
    """Gemma 3 270M: a second real architecture (262k vocabulary, 640-wide rows, q/k norms, windowed layers)."""
    return build_gemma3_checkpoint(studio_cache / "test-models")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, smol) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama", smol)


@pytest.fixture(scope="session")
def eval_text(tmp_path_factory) -> Path:
    """The first ~100 KB of the shared WikiText-2 test text (enough for 8+ chunks of 512)."""
    text = SHARED_TEXT.read_text(encoding="utf-8")[:100_000]
    path = tmp_path_factory.mktemp("texts") / "wikitext-head.txt"
    path.write_text(text, encoding="utf-8")
    return path


def make_env(workspace: Path, studio_cache: Path, model_dirs: list[Path]) -> dict:
    return {**os.environ, "STUDIO_WORKSPACE": str(workspace), "STUDIO_CACHE": str(studio_cache),
            "STUDIO_MODEL_DIRS": os.pathsep.join(str(d) for d in model_dirs),
            "HF_HUB_OFFLINE": "1", "STUDIO_DB_URL": ""}


DATABASES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    """A test marked `both_databases` runs once on SQLite and once on PostgreSQL (through `database`)."""
    if "database" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("database", DATABASES, indirect=True)


@pytest.fixture(scope="session")
def postgres() -> PostgresCluster:
    """A PostgreSQL cluster of the session's own (`make postgresql` installs Debian's server)."""
    bin_dir = server_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server is not installed (`make postgresql` installs Debian's)")
    cluster = PostgresCluster(bin_dir).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def database(request) -> str:
    """Which database the test's studio uses: SQLite, unless the test is marked `both_databases`."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def db_url(database, request) -> str | None:
    """A new PostgreSQL database of the session's cluster, or None: the workspace's own SQLite file."""
    return request.getfixturevalue("postgres").create_database() if database == "postgresql" else None


@pytest.fixture
def workspace_env(tmp_path, studio_cache, smol, tiny, db_url, monkeypatch):
    """A fresh workspace; the environment (for in-process calls and child processes) points at it, and at the
    test's database."""
    env = make_env(tmp_path / "ws", studio_cache, [smol.parent, tiny.parent])
    env["STUDIO_DB_URL"] = db_url or ""
    for key in ("STUDIO_WORKSPACE", "STUDIO_CACHE", "STUDIO_MODEL_DIRS", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(key, env[key])
    if db_url:
        monkeypatch.setenv("STUDIO_DB_URL", db_url)
    else:
        monkeypatch.delenv("STUDIO_DB_URL", raising=False)
    monkeypatch.delenv("STUDIO_QUEUE_URL", raising=False)
    return env


@pytest.fixture
def settings(workspace_env) -> Settings:
    s = Settings.from_env()
    s.ensure_dirs()
    return s


def run_cli(args: list[str], env: dict, timeout: float = 2400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], env=env, cwd=REPO_ROOT, text=True,
                          capture_output=True, timeout=timeout)


CALIBRATION_TEXT = REPO_ROOT / "studio" / "data" / "calibration-sample.txt"
CALIBRATION_HEAD_CHARS = 20_000


@pytest.fixture(scope="session")
def smol_run(tmp_path_factory, studio_cache, smol, eval_text):
    """One real headless run on SmolLM2: F16 base, Q8_0, Q4_K_M, Q2_K through the queue (4 chunks of 512),
    then Q2_K and Q3_K_S again with an importance matrix, for the with/without comparison. The base and
    Q8_0 are also compared with the checkpoint (checked against an independent loop); for the other rows
    that torch pass would only cost time."""
    ws = tmp_path_factory.mktemp("smol-run")
    env = make_env(ws, studio_cache, [smol.parent])
    protocol = ["--option", "gguf.imatrix=off", "--eval-text", str(eval_text), "--ctx", "512", "--max-chunks", "4",
                "--max-new-tokens", "24", "--wait", "--json"]
    proc = run_cli(["quantize", "--model", str(smol), "--recipe", "gguf:Q8_0", *protocol], env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rest = run_cli(["quantize", "--model", str(smol), "--recipe", "gguf:Q4_K_M", "--recipe", "gguf:Q2_K",
                    "--option", "gguf.checkpoint_kld=false", *protocol], env)
    assert rest.returncode == 0, rest.stderr[-4000:]
    rows = json.loads(proc.stdout) + json.loads(rest.stdout)
    base_proc = run_cli(["results", "--json"], env)
    # These rows are compared with the plain ones on the GGUF base: the pass against the checkpoint adds nothing,
    # and an importance matrix from a third of the built-in calibration text (8 chunks of 512) shows the effect.
    calibration = ws / "calibration-head.txt"
    calibration.write_text(CALIBRATION_TEXT.read_text(encoding="utf-8")[:CALIBRATION_HEAD_CHARS], encoding="utf-8")
    with_imatrix = run_cli(["quantize", "--model", str(smol), "--recipe", "gguf:Q2_K", "--recipe", "gguf:Q3_K_S",
                            "--option", "gguf.checkpoint_kld=false", "--option", f"gguf.imatrix_text={calibration}",
                            "--eval-text", str(eval_text), "--ctx", "512", "--max-chunks", "4", "--max-new-tokens",
                            "24", "--wait", "--json"], env)
    assert with_imatrix.returncode == 0, with_imatrix.stderr[-4000:]
    imatrix_rows = json.loads(with_imatrix.stdout)
    return {"env": env, "workspace": ws, "rows": rows, "all": json.loads(base_proc.stdout),
            "imatrix_rows": imatrix_rows}


HF_RECIPES_TINY = ("int8-rtn", "fp8", "nvfp4", "mxfp4", "bnb-nf4", "bnb-int8", "gptq", "awq")


@pytest.fixture(scope="session")
def tiny_hf_run(tmp_path_factory, studio_cache, tiny, eval_text):
    """Every HF-format recipe on the tiny random llama through the queue (2 chunks of 128), plus a
    second submission with other options (FP8 W8A8, asymmetric per-group INT8)."""
    ws = tmp_path_factory.mktemp("tiny-hf-run")
    env = make_env(ws, studio_cache, [tiny.parent])
    common = ["--model", str(tiny), "--eval-text", str(eval_text), "--ctx", "128", "--max-chunks", "2",
              "--max-new-tokens", "8", "--wait", "--json"]
    calib = ["--option", "gptq.samples=4", "--option", "gptq.seq_len=64",
             "--option", "awq.samples=4", "--option", "awq.seq_len=64"]
    first = run_cli(["quantize", *common, *(a for r in HF_RECIPES_TINY for a in ("--recipe", r)), *calib], env)
    assert first.returncode == 0, first.stderr[-4000:]
    second = run_cli(["quantize", *common, "--recipe", "fp8", "--recipe", "int8-rtn",
                      "--option", "fp8.activations=w8a8", "--option", "int8-rtn.scheme=asymmetric",
                      "--option", "int8-rtn.granularity=per-group"], env)
    assert second.returncode == 0, second.stderr[-4000:]
    return {"env": env, "rows": json.loads(first.stdout) + json.loads(second.stdout)}


@pytest.fixture(scope="session")
def smol_hf_run(tmp_path_factory, studio_cache, smol, eval_text):
    """The recipes the issue asks to run for real on SmolLM2-135M, through the queue (4 chunks of 512)."""
    ws = tmp_path_factory.mktemp("smol-hf-run")
    env = make_env(ws, studio_cache, [smol.parent])
    proc = run_cli(["quantize", "--model", str(smol), "--recipe", "bnb-nf4", "--recipe", "bnb-int8",
                    "--recipe", "gptq", "--recipe", "int8-rtn", "--recipe", "fp8",
                    "--option", "gptq.bits=4", "--option", "gptq.group_size=64",
                    # GPTQ's calibration: what the assertions need (a real run), not what quality would
                    "--option", "gptq.samples=4", "--option", "gptq.seq_len=128",
                    "--eval-text", str(eval_text), "--ctx", "512", "--max-chunks", "4",
                    "--max-new-tokens", "8", "--wait", "--json"], env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"env": env, "rows": json.loads(proc.stdout), "all": json.loads(run_cli(["results", "--json"], env).stdout)}


@pytest.fixture
def busy_machine():
    """A process burning a core for the whole test: what a shared machine does to timing."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield burner
    burner.kill()
    burner.wait(timeout=30)


@pytest.fixture
def redis_url(tmp_path):
    """A real Redis on a free loopback port, nothing persisted."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (`make redis` installs Debian's)")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def standin(tmp_path):
    server = OllamaStandIn(tmp_path / "ollama").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def results_ws(tmp_path_factory, studio_cache, smol):
    """A workspace whose results hold a real SmolLM2-135M Q4_K_M GGUF."""
    ws = tmp_path_factory.mktemp("ollama-ws")
    settings = Settings.from_env(ws)
    settings.ensure_dirs()
    gguf = smollm2_q4_k_m(studio_cache / "test-models")
    result_id = store_gguf_result(settings, gguf, base_artifact=smollm2_gguf())
    return {"env": make_env(ws, studio_cache, [smol.parent]), "settings": settings,
            "rows": {"gguf:Q4_K_M": {"id": result_id}}}


def run_snippets(snippets: list[str], env: dict, timeout: int = 900) -> None:
    """Run each Compare load snippet exactly as shown, one after another in one fresh Python process started in
    the studio's folder (as a user pastes it there), each in namespace of its own; it must define `model` or
    `llm`. Fails with the snippet and the error of the first that does not run."""
    runner = ("import json, sys, traceback\n"
              "for code in json.load(sys.stdin):\n"
              "    scope = {'__name__': '__main__'}\n"
              "    try:\n"
              "        exec(compile(code, '<snippet>', 'exec'), scope)\n"
              "        assert scope.get('model') is not None or scope.get('llm') is not None, 'nothing loaded'\n"
              "    except BaseException:\n"
              "        print(code); traceback.print_exc(); sys.exit(1)\n")
    proc = subprocess.run([sys.executable, "-c", runner], input=json.dumps(snippets), env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
