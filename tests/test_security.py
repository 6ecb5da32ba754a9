"""Security defaults, each proven: loopback by default, authentication (or an explicit, loud opt-out)
on any other address, only the outputs folder served, user paths confined to the allowed roots, no
pickle and no remote code anywhere, and no network at run time."""
from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import jobs.queue
from jobs.queue import JsonSerializer, enqueue, get_huey
from studio import service
from studio.config import REPO_ROOT
from studio.models import ModelError, read_model_facts, resolve_model
from studio.preflight import PreflightError
from tests.fleet import Studio, free_port, running

AUDIT_HOOK = Path(__file__).parent / "network_audit"
LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "unix", ""}


def _launch(args: list[str], env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "launch.py", *args], env=env, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


# -- listening ------------------------------------------------------------------------------------------

def test_the_studio_listens_on_loopback_by_default(monkeypatch):
    import launch
    monkeypatch.delenv("STUDIO_HOST", raising=False)
    assert launch.parse_args([]).host == "127.0.0.1"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_any_other_address_without_authentication_is_refused(workspace_env, host):
    env = {k: v for k, v in workspace_env.items() if k != "STUDIO_AUTH"}
    proc = _launch(["--host", host, "--workers", "0"], env)
    assert proc.returncode != 0
    assert f"refusing to listen on {host} without authentication: set STUDIO_AUTH=user:password" in proc.stderr


def test_insecure_no_auth_is_an_explicit_choice_that_warns(workspace_env, tmp_path):
    env = {k: v for k, v in workspace_env.items() if k != "STUDIO_AUTH"}
    studio = Studio([sys.executable, "launch.py", "--host", "0.0.0.0", "--port", str(free_port()), "--workers", "0",
                     "--insecure-no-auth"], env, tmp_path / "studio.log")
    with running(studio):
        studio.wait_for_line("WARNING: listening on 0.0.0.0 with no authentication")


def _audit_events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _off_loopback(events: list[dict]) -> list[dict]:
    """Network events aimed anywhere but this machine (Unix sockets, loopback, no host at all)."""
    return [e for e in events if e["event"] != "start" and e["host"] not in LOCAL]


def test_authentication_guards_every_route_and_only_outputs_are_served(workspace_env, settings, tmp_path):
    audit = tmp_path / "network.jsonl"
    env = {**workspace_env, "STUDIO_AUTH": "alice:correct-horse", "PYTHONPATH": str(AUDIT_HOOK),
           "STUDIO_NETWORK_AUDIT": str(audit)}
    env.pop("HF_HUB_OFFLINE")  # the studio must stay offline on its own
    output = settings.outputs_dir / "demo" / "result.gguf"
    output.parent.mkdir(parents=True)
    output.write_bytes(b"GGUF")
    port = free_port()
    studio = Studio([sys.executable, "launch.py", "--host", "0.0.0.0", "--port", str(port), "--workers", "0"],
                    env, tmp_path / "studio.log")
    base = f"http://127.0.0.1:{port}"
    with running(studio):
        _wait_http(base, studio)
        anonymous = requests.Session()
        assert anonymous.get(f"{base}/config", timeout=30).status_code == 401
        assert anonymous.get(f"{base}/gradio_api/file={output}", timeout=30).status_code == 401
        assert anonymous.post(f"{base}/login", data={"username": "alice", "password": "wrong"},
                              timeout=30).status_code != 200
        alice = requests.Session()
        assert alice.post(f"{base}/login", data={"username": "alice", "password": "correct-horse"},
                          timeout=30).status_code == 200
        assert alice.get(f"{base}/config", timeout=30).status_code == 200
        assert alice.get(f"{base}/gradio_api/file={output}", timeout=30).content == b"GGUF"
        for secret in (settings.workspace / "studio.db", Path("/etc/passwd"), REPO_ROOT / "launch.py"):
            assert alice.get(f"{base}/gradio_api/file={secret}", timeout=30).status_code == 403, secret
    events = _audit_events(audit)
    assert any(e["event"] == "start" and "launch.py" in e["program"][0] for e in events), "the audit hook ran"
    assert _off_loopback(events) == []


def _wait_http(base: str, studio: Studio, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert studio.proc.poll() is None, studio.output()[-3000:]
        try:
            requests.get(base, timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.5)
    raise AssertionError(f"the studio did not answer:\n{studio.output()[-3000:]}")


# -- paths ----------------------------------------------------------------------------------------------

@pytest.fixture
def allowed_and_outside(tmp_path, tiny, workspace_env, monkeypatch):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (outside / name).write_bytes((tiny / name).read_bytes())
    monkeypatch.setenv("STUDIO_MODEL_DIRS", str(allowed))
    return allowed, outside


@pytest.mark.parametrize("given", [
    "{outside}",                    # plainly elsewhere
    "{allowed}/../outside",         # climbing out with ..
    "{allowed}/link-to-outside",    # a symlinked folder inside an allowed root
])
def test_model_paths_are_resolved_and_confined(allowed_and_outside, given):
    from studio.config import Settings
    allowed, outside = allowed_and_outside
    (allowed / "link-to-outside").symlink_to(outside)
    with pytest.raises(ModelError) as refused:
        resolve_model(given.format(allowed=allowed, outside=outside), Settings.from_env())
    message = str(refused.value)
    assert "is outside the allowed folders" in message and f"{outside} " in message.replace(")", " ")


def test_each_file_of_a_model_folder_is_confined_too(allowed_and_outside):
    from studio.config import Settings
    allowed, outside = allowed_and_outside
    model = allowed / "model"
    model.mkdir()
    (model / "config.json").write_bytes((outside / "config.json").read_bytes())
    (model / "model.safetensors").symlink_to(outside / "model.safetensors")
    with pytest.raises(ModelError, match="model/model.safetensors links to .*outside the allowed folders"):
        read_model_facts(resolve_model(str(model), Settings.from_env()), Settings.from_env())


def test_option_paths_are_confined(settings, tiny):
    request = service.JobRequest(model=str(tiny), recipes=("gptq",), n_ctx=128,
                                 overrides=(("gptq.calibration", "/etc/passwd"),))
    with pytest.raises(PreflightError, match="outside the allowed folders"):
        service.preflight(settings, request)


# -- no pickle, no remote code --------------------------------------------------------------------------

def test_pickle_and_remote_code_are_refused_unless_opted_in(tmp_path, tiny, workspace_env, monkeypatch):
    from studio.config import Settings
    pickled, remote = tmp_path / "models" / "pickled", tmp_path / "models" / "remote"
    for folder in (pickled, remote):
        folder.mkdir(parents=True)
        (folder / "config.json").write_bytes((tiny / "config.json").read_bytes())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")
    (remote / "model.safetensors").write_bytes((tiny / "model.safetensors").read_bytes())
    (remote / "modeling_custom.py").write_text("raise SystemExit('never imported')\n")
    monkeypatch.setenv("STUDIO_MODEL_DIRS", str(tmp_path / "models"))
    for folder, flag, refusal in ((pickled, "STUDIO_ALLOW_PICKLE", "pickle can run code when loaded"),
                                  (remote, "STUDIO_TRUST_REMOTE_CODE", "needs trust_remote_code")):
        with pytest.raises(ModelError, match=refusal):
            read_model_facts(folder, Settings.from_env())
        monkeypatch.setenv(flag, "1")
        assert read_model_facts(folder, Settings.from_env()).architecture == "LlamaForCausalLM"


UNPICKLING = {"pickle.load", "pickle.loads", "torch.load", "dill.load", "dill.loads", "joblib.load"}
LOADERS = {"from_pretrained", "from_config", "load", "pipeline"}  # where transformers-style trust_remote_code goes


def _problem(node: ast.Call) -> bool:
    name = ast.unparse(node.func)
    keywords = {k.arg: k.value for k in node.keywords}
    remote = keywords.get("trust_remote_code")
    # False, or the user's own opt-in (Settings.trust_remote_code, off unless STUDIO_TRUST_REMOTE_CODE=1)
    trusts_remote = remote is not None and not (
        (isinstance(remote, ast.Constant) and remote.value is False)
        or ast.unparse(remote) == "settings.trust_remote_code")
    return (name in UNPICKLING or (name.rsplit(".", 1)[-1] in LOADERS and trusts_remote)
            or (name.endswith("np.load") and "allow_pickle" in keywords))


def test_no_code_path_unpickles_or_trusts_remote_code():
    """Every call in the studio's own code: no unpickling loader, no loader given trust_remote_code other
    than False or the user's opt-in setting, no np.load allowing pickles."""
    sources = [*REPO_ROOT.glob("studio/**/*.py"), *REPO_ROOT.glob("jobs/*.py"), *REPO_ROOT.glob("components/*.py")]
    offenders = [f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {ast.unparse(node)[:120]}"
                 for path in sources for node in ast.walk(ast.parse(path.read_text(), str(path)))
                 if isinstance(node, ast.Call) and _problem(node)]
    assert len(sources) > 30 and offenders == []


def test_queue_messages_are_json_never_pickle(settings, tiny, eval_text):
    request = service.JobRequest(model=str(tiny), recipes=("gguf:Q8_0",), eval_text=eval_text, n_ctx=128)
    job_id = service.submit(settings, request, jobs.queue.enqueue)[0]
    huey = get_huey(settings)
    raw = huey.storage.enqueued_items()
    assert [json.loads(item)["args"] for item in raw] == [[job_id]]
    with pytest.raises(ValueError):  # a pickled message is refused, not loaded
        JsonSerializer().deserialize(b"\x80\x04\x95 pickled")
    enqueue(settings, job_id)  # a duplicate message is harmless: the claim succeeds once
    assert len(huey.storage.enqueued_items()) == 2


# -- no network at run time -----------------------------------------------------------------------------

def test_a_whole_job_makes_no_network_connection(workspace_env, tiny, eval_text, tmp_path):
    """The headless quantize of a local model, every process audited (the CLI, its consumer, the runner,
    llama.cpp's converter, the evaluation processes), with HF_HUB_OFFLINE unset."""
    audit = tmp_path / "network.jsonl"
    env = {**workspace_env, "PYTHONPATH": str(AUDIT_HOOK), "STUDIO_NETWORK_AUDIT": str(audit)}
    env.pop("HF_HUB_OFFLINE")
    proc = subprocess.run([sys.executable, "-m", "studio", "quantize", "--model", str(tiny), "--recipe", "gguf:Q8_0",
                           "--eval-text", str(eval_text), "--ctx", "128", "--max-chunks", "2", "--prompt", "Hello",
                           "--max-new-tokens", "4", "--wait"], env=env, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _audit_events(audit)
    programs = {" ".join(e["program"][:2]) for e in events if e["event"] == "start"}
    print(f"audited {len(programs)} programs: {sorted(programs)}")
    assert {"-m studio", "-m jobs.runner", "-m jobs.evaluation"} <= programs
    assert any("convert_hf_to_gguf.py" in p for p in programs)
    assert _off_loopback(events) == []


# -- DNS rebinding: only the bound host's names are answered ---------------------------------------------

def _cancel_over_http(base: str, job_id: int, host: str) -> requests.Response:
    """The Jobs tab's Cancel as a page would call it, with the given Host (and a matching Origin)."""
    return requests.post(f"{base}/gradio_api/call/v2/on_cancel", json={"selected": job_id}, timeout=30,
                         headers={"Host": host, "Origin": f"http://{host}"})


def test_a_rebound_host_name_is_refused_on_every_route(workspace_env, settings, tiny, eval_text, tmp_path):
    from tests.fleet import job, submit, wait_job
    job_id = submit(settings, tiny, "gguf:Q8_0", eval_text)  # stays queued: the studio runs no workers
    port = free_port()
    env = {**workspace_env, "STUDIO_PUBLIC_HOSTS": "studio.example"}
    env.pop("STUDIO_AUTH", None)
    studio = Studio([sys.executable, "launch.py", "--port", str(port), "--workers", "0"], env, tmp_path / "s.log")
    base = f"http://127.0.0.1:{port}"
    with running(studio):
        _wait_http(base, studio)
        evil = f"evil.example:{port}"
        for path in ("/", "/config", "/gradio_api/info", f"/gradio_api/file={settings.workspace / 'studio.db'}"):
            refused = requests.get(f"{base}{path}", headers={"Host": evil}, timeout=30)
            assert refused.status_code == 403, path
            assert "is not a name this studio answers to" in refused.json()["error"]
        assert _cancel_over_http(base, job_id, evil).status_code == 403
        assert job(settings, job_id).state == "queued" and not job(settings, job_id).cancel_requested
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "studio.example", f"[::1]:{port}"):
            assert requests.get(f"{base}/config", headers={"Host": host}, timeout=30).status_code == 200, host
        assert _cancel_over_http(base, job_id, f"localhost:{port}").status_code == 200
        wait_job(settings, job_id, lambda j: j.state == "cancelled", timeout=120)


def test_host_names_are_read_as_a_browser_sends_them():
    from studio.http_guard import allowed_host_names, host_name
    assert host_name("Evil.Example:7860") == "evil.example"
    assert host_name("[::1]:7860") == "::1" and host_name("localhost") == "localhost"
    allowed = allowed_host_names("127.0.0.1", " Studio.Example , https://proxy.example:8443,box.lan:7860")
    assert allowed == {"localhost", "127.0.0.1", "::1", "studio.example", "proxy.example", "box.lan"}
    hostname = socket.gethostname().lower()
    for wildcard in ("0.0.0.0", "::", "[::]"):
        assert {"127.0.0.1", hostname, f"{hostname}.local"} <= allowed_host_names(wildcard)


def test_login_attempts_count_per_client_and_per_ipv6_network():
    import asyncio

    from studio.http_guard import LoginThrottle, client_key
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "2001:db8::/64"
    assert client_key("10.0.0.1") != client_key("10.0.0.2")
    now = [0.0]
    answers = []

    async def app(scope, receive, send):
        answers.append(200)

    async def send(message):
        if message["type"] == "http.response.start":
            answers.append(message["status"])

    throttle = LoginThrottle(app, per_second=2.0, burst=5, clock=lambda: now[0])
    attempt = {"type": "http", "method": "POST", "path": "/login"}
    for client in ["2001:db8::1"] * 3 + ["2001:db8::2"] * 3 + ["192.0.2.7"]:
        asyncio.run(throttle({**attempt, "client": (client, 1)}, None, send))
    assert answers == [200] * 5 + [429] + [200], "one /64 shares 5 attempts; another client has its own"
    now[0] += 0.5  # one more attempt's worth of time
    asyncio.run(throttle({**attempt, "client": ("2001:db8::9", 1)}, None, send))
    assert answers[-1] == 200


# -- login attempts are paced -------------------------------------------------------------------------

def test_repeated_wrong_logins_are_slowed_down(workspace_env, tmp_path):
    port = free_port()
    env = {**workspace_env, "STUDIO_AUTH": "alice:correct-horse"}
    studio = Studio([sys.executable, "launch.py", "--port", str(port), "--workers", "0"], env, tmp_path / "s.log")
    base = f"http://127.0.0.1:{port}"
    with running(studio):
        _wait_http(base, studio)
        started = time.monotonic()
        answers = [requests.post(f"{base}/login", data={"username": "alice", "password": f"guess-{i}"},
                                 timeout=30) for i in range(30)]
        elapsed = time.monotonic() - started
        tried = [a for a in answers if a.status_code != 429]
        refused = [a for a in answers if a.status_code == 429]
        print(f"30 wrong logins in {elapsed:.2f} s: {len(tried)} checked, {len(refused)} refused")
        # 5 at once, then 2 per second: what got through is bounded by the time taken, however fast or slow.
        assert len(tried) <= 5 + 2 * elapsed + 1 and refused
        assert all(a.status_code in (400, 401) for a in tried)
        assert refused[0].headers["Retry-After"].isdigit() and "too many login attempts" in refused[0].text
        retry = time.monotonic() + 60
        while (ok := requests.post(f"{base}/login", data={"username": "alice", "password": "correct-horse"},
                                   timeout=30)).status_code == 429 and time.monotonic() < retry:
            time.sleep(float(ok.headers["Retry-After"]))
        assert ok.status_code == 200, "the right password still gets in once the client slows down"


# -- secrets stay out of logs; each CSV export is its own file --------------------------------------------

def test_the_brokers_password_never_reaches_a_log_line(settings, workspace_env, tmp_path, redis_url):
    import redis
    from studio.config import redact_url
    redis.Redis.from_url(redis_url).config_set("requirepass", "s3cret-pw")
    secret_url = redis_url.replace("redis://", "redis://:s3cret-pw@")
    assert redact_url(secret_url) == redis_url.replace("redis://", "redis://:***@")
    assert redact_url("postgresql://team:pw@db:5432/studio") == "postgresql://team:***@db:5432/studio"
    worker = Studio.worker({**workspace_env, "STUDIO_QUEUE_URL": secret_url}, tmp_path / "worker.log")
    with running(worker):
        worker.wait_for_line("re-queued")
    assert "s3cret" not in worker.output() and ":***@" in worker.output()
