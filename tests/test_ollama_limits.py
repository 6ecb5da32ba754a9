"""What an import accepts at queue time (a Modelfile of sane size, a plain http(s) host) and what it repeats
of a server's replies: the step, the endpoint, the HTTP status and Ollama's own JSON error, never the body
of an arbitrary host's page."""
from __future__ import annotations

import re

import pytest
from sqlmodel import func, select

import jobs.queue
from studio.ollama import service
from studio.ollama.client import DigestMismatch, InvalidHost, OllamaServer, ServerError, validate_host
from studio.ollama.importer import run_import
from studio.ollama.modelfile import ModelfileError
from studio.ollama.names import InvalidModelName
from studio.storage import Job, reading
from tests.conftest import run_cli
from tests.ollama_standin import PAGE_SECRET
from tests.test_ollama_import import Steps, _plan


def _jobs(settings) -> int:
    with reading(settings.db_url) as s:
        return s.exec(select(func.count()).select_from(Job)).one()


def _request(results_ws, standin, **changes) -> service.ImportRequest:
    preview = service.preview_modelfile(results_ws["settings"], results_ws["rows"]["gguf:Q4_K_M"]["id"])
    fields = {"result_id": preview.result_id, "name": "smol:q4", "host": standin.url, "modelfile": preview.text}
    return service.ImportRequest(**{**fields, **changes})


def test_an_oversized_modelfile_or_name_is_refused_before_a_job_is_queued(results_ws, standin, tmp_path):
    settings, before = results_ws["settings"], _jobs(results_ws["settings"])
    padded = _request(results_ws, standin).modelfile + "# padding\n" * (3 * 2**20)  # 30 MiB, still a valid Modelfile
    with pytest.raises(ModelfileError, match=r"the Modelfile is 30,\d+ KiB; an import takes at most 64 KiB"):
        service.submit_import(settings, _request(results_ws, standin, modelfile=padded), jobs.queue.enqueue)
    with pytest.raises(InvalidModelName, match="the model name is 1,000,000 characters long; Ollama allows at most"):
        service.submit_import(settings, _request(results_ws, standin, name="a" * 1_000_000), jobs.queue.enqueue)
    big = tmp_path / "Modelfile"
    big.write_text(padded, encoding="utf-8")
    q4 = str(results_ws["rows"]["gguf:Q4_K_M"]["id"])
    proc = run_cli(["ollama", "import", q4, "--name", "smol:q4", "--host", standin.url, "--modelfile", str(big)],
                   results_ws["env"])
    assert proc.returncode == 2 and "an import takes at most 64 KiB" in proc.stderr and len(proc.stderr) < 2000
    assert _jobs(settings) == before and standin.requests == []


BAD_HOSTS = {
    "ftp://127.0.0.1:11434": "must start with http:// or https://",
    "file:///etc/passwd": "must start with http:// or https://",
    "javascript:alert(1)": "must start with http:// or https://",
    "http://admin:secret@127.0.0.1:11434": "holds a user name or password",
    "http://evil.example\\@127.0.0.1:11434": "holds a user name or password",
    "http://127.0.0.1:11434/api/../../admin": "has a path, query or fragment",
    "http://127.0.0.1:11434?redirect=x": "has a path, query or fragment",
    "http://127.0.0.1:11434#x": "has a path, query or fragment",
    "http://127.0.0.1:99999": "has an invalid port",
    "http://127.0.0.1:0": "has an invalid port",
    "http://[::1": "has no valid host name or IP address",
    "http://exa%2Dmple.com": "has no valid host name or IP address",
    "http://127.0.0.1\n:11434": "holds spaces or control characters",
    "http://" + "a" * 400: "characters long; an address has at most 300",
}


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_host_that_is_not_a_plain_http_address_is_refused_at_queue_time(results_ws, standin, host):
    before = _jobs(results_ws["settings"])
    with pytest.raises(InvalidHost, match=re.escape(BAD_HOSTS[host])):
        service.submit_import(results_ws["settings"], _request(results_ws, standin, host=host), jobs.queue.enqueue)
    assert _jobs(results_ws["settings"]) == before


def test_the_cli_refuses_a_host_with_credentials(results_ws, standin):
    q4 = str(results_ws["rows"]["gguf:Q4_K_M"]["id"])
    proc = run_cli(["ollama", "import", q4, "--name", "smol:q4", "--host", "http://u:pw@127.0.0.1:1"],
                   results_ws["env"])
    assert proc.returncode == 2 and "holds a user name or password" in proc.stderr
    assert "queued" not in proc.stderr and "pw" not in proc.stderr.replace("password", "")


@pytest.mark.parametrize("given, address", [("127.0.0.1:11434", "http://127.0.0.1:11434"),
                                            ("localhost", "http://localhost:11434"),
                                            ("https://ollama.example.com/", "https://ollama.example.com:443"),
                                            ("[::1]:8080", "http://[::1]:8080")])
def test_a_plain_host_is_normalized_as_the_ollama_cli_reads_it(given, address):
    assert validate_host(given) == address


def test_a_web_page_in_place_of_ollama_is_never_repeated(standin):
    standin.faults.add("web_page")
    server = OllamaServer(standin.url)
    with pytest.raises(ServerError) as refused:
        server.version()  # 200, HTML
    assert str(refused.value).startswith(f"connect failed: GET /api/version on {standin.url} answered with something "
                                         "other than Ollama's JSON")
    with pytest.raises(ServerError) as missing:
        server.exists("smol:q4")  # 404, HTML: not Ollama's "model not found"
    assert str(missing.value).startswith(f"check the name failed: POST /api/show on {standin.url} answered HTTP 404, "
                                         "not with Ollama's JSON")
    assert PAGE_SECRET not in str(refused.value) + str(missing.value)


def test_a_proxy_error_page_during_create_is_named_not_shown(results_ws, standin):
    """Through the real job: the job's error and its log name the step, endpoint and status, not the page."""
    standin.faults.add("proxy_page")
    q4 = str(results_ws["rows"]["gguf:Q4_K_M"]["id"])
    proc = run_cli(["ollama", "import", q4, "--name", "smol:proxy", "--host", standin.url, "--wait"],
                   results_ws["env"], timeout=300)
    assert proc.returncode == 1
    assert f"create failed: POST /api/create on {standin.url} answered HTTP 502, not with Ollama's JSON" in proc.stderr
    job_id = proc.stderr.split("queued import job #")[1].split()[0]
    log = run_cli(["log", job_id], results_ws["env"]).stdout
    assert "== stage: create" in log and PAGE_SECRET not in log + proc.stderr


def test_ollamas_own_json_error_is_shown_with_step_endpoint_and_status(results_ws, standin):
    steps = Steps()
    standin.faults.add("corrupt_upload")
    with pytest.raises(DigestMismatch, match=rf"upload failed: the Ollama server at {standin.url} answered POST "
                                          r"/api/blobs/sha256:[0-9a-f]{64} with HTTP 400: digest mismatch, expected"):
        run_import(OllamaServer(standin.url), _plan(results_ws), overwrite=False, steps=steps)
