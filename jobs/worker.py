"""`python -m jobs.worker [--workers N]`: a standalone consumer for the studio's queue.

With the embedded SQLite queue the studio runs its own consumer threads; start this on other
machines when STUDIO_QUEUE_URL points at a shared broker and STUDIO_DB_URL at the studio's database
(one worker per GPU: CUDA_VISIBLE_DEVICES=N python -m jobs.worker; its jobs inherit it).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from jobs.queue import reap, requeue_pending, start_consumer, worker_id
from studio.config import Settings, redact_url
from studio.storage import open_database


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=1, help="jobs run at once by this process")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    open_database(settings.db_url)
    failed = reap(settings)
    if failed:
        print(f"marked interrupted job(s) as failed: {failed}", file=sys.stderr)
    print(f"worker {worker_id()}: re-queued {requeue_pending(settings)} pending job(s); "
          f"queue {redact_url(settings.queue_url) if settings.queue_url else 'embedded SQLite'}, "
          f"workspace {settings.workspace}", file=sys.stderr, flush=True)
    consumer = start_consumer(settings, args.workers)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    consumer.stop(graceful=False)


if __name__ == "__main__":
    main()
