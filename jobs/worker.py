"""`python -m jobs.worker [--workers N]`: a standalone consumer for the studio's queue.

With the embedded SQLite queue the studio runs its own consumer threads; start this on other
machines when STUDIO_QUEUE_URL points at a shared broker (one worker per GPU).
"""
from __future__ import annotations

import argparse
import signal
import threading

from jobs.queue import reap, start_consumer
from studio.config import Settings


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    settings = Settings.from_env()
    reap(settings)
    consumer = start_consumer(settings, args.workers)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    consumer.stop(graceful=False)


if __name__ == "__main__":
    main()
