"""Start the studio: settings, database, queue consumer, UI. `python launch.py --help`."""
from __future__ import annotations

import os

# Offline by default: these must be set before gradio / huggingface_hub are imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import ipaddress  # noqa: E402
import sys  # noqa: E402

from studio.config import REPO_ROOT, Settings  # noqa: E402
from studio.storage import open_database  # noqa: E402


# Gradio keeps a copy of every component's config per session (~0.25 MB here), and each headless API
# call is a session of its own: without a bound, a script polling the Jobs table grows the server by
# that much per call. Sessions are kept least-recently-used first, so open browser tabs, which poll
# every 2 s, stay.
SESSIONS_KEPT = 128


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Quantization Studio")
    p.add_argument("--host", default=os.environ.get("STUDIO_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("STUDIO_PORT", "7860")))
    p.add_argument("--workspace", default=None, help="default: $STUDIO_WORKSPACE or ./workspace")
    p.add_argument("--workers", type=int, default=int(os.environ.get("STUDIO_WORKERS", "1")),
                   help="jobs run at once by this process (0 = none: workers run elsewhere)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="allow a non-loopback --host without STUDIO_AUTH (anyone on the network can use it)")
    return p.parse_args(argv)


def auth_from_env() -> tuple[str, str] | None:
    raw = os.environ.get("STUDIO_AUTH", "")
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise SystemExit("STUDIO_AUTH must be user:password")
    return (user, password)


def offline_theme():
    """Gradio's default theme fetches a web font; system fonts keep the studio offline."""
    import gradio as gr
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def guards(host: str) -> list:
    """Checks before any route: the Host header (DNS rebinding) and the pace of login attempts."""
    from starlette.middleware import Middleware

    from studio.http_guard import PUBLIC_HOSTS_ENV, HostCheck, LoginThrottle, allowed_host_names
    allowed = allowed_host_names(host, os.environ.get(PUBLIC_HOSTS_ENV, ""))
    print(f"answering to the host names {', '.join(sorted(allowed))} and IP addresses "
          f"(add others to {PUBLIC_HOSTS_ENV})", file=sys.stderr)
    return [Middleware(HostCheck, allowed=allowed), Middleware(LoginThrottle)]


def main(argv=None) -> None:
    args = parse_args(argv)
    auth = auth_from_env()
    if not _is_loopback(args.host) and auth is None:
        if not args.insecure_no_auth:
            raise SystemExit(f"refusing to listen on {args.host} without authentication: "
                             "set STUDIO_AUTH=user:password, "
                             "or pass --insecure-no-auth if the network is trusted")
        print(f"WARNING: listening on {args.host} with no authentication", file=sys.stderr)

    settings = Settings.from_env(args.workspace)
    settings.ensure_dirs()
    open_database(settings.db_url)
    from jobs.queue import enqueue, reap, requeue_pending, start_consumer

    reaped = reap(settings)
    if reaped:
        print(f"marked interrupted job(s) as failed: {reaped}", file=sys.stderr)
    print(f"re-queued {requeue_pending(settings)} pending job(s)", file=sys.stderr)
    consumer = start_consumer(settings, args.workers) if args.workers > 0 else None

    from components.app import build_app
    from studio.evaluation.texts import MAX_TEXT_BYTES

    app = build_app(settings, enqueue)
    css = (REPO_ROOT / "static" / "studio.css").read_text()
    print(f"Quantization Studio: http://{args.host}:{args.port}  (workspace {settings.workspace})", file=sys.stderr)
    try:
        app.queue(default_concurrency_limit=8).launch(
            server_name=args.host, server_port=args.port, share=False, auth=auth, css=css, theme=offline_theme(),
            show_error=True, footer_links=["api"], allowed_paths=[str(settings.outputs_dir)],
            max_file_size=MAX_TEXT_BYTES,  # uploads are evaluation texts; anything bigger is refused
            state_session_capacity=SESSIONS_KEPT, app_kwargs={"middleware": guards(args.host)})
    finally:
        if consumer is not None:
            consumer.stop()


if __name__ == "__main__":
    main()
