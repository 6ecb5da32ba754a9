"""`python -m tests.db_opener FOLDER INDEX URL…`: one of the processes of the concurrent-open test.

For each round (one database URL each) it says it is ready, waits for the round's start signal, then opens a
database no process has opened before (the studio's own `engine_for`, as a starting studio or worker does: it
creates the tables), writes a job row through it and reads it back. What happened is written to
`r{round}-{index}.out`: "ok" or the exception.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from studio import storage
from studio.storage import Job, reading, session


def open_and_write(url: str, index: int) -> None:
    with session(url) as s:
        s.add(Job(model="m", model_key="k", recipe="gguf:Q8_0", eval_text_path="", eval_text_sha="",
                  dedupe_key=f"opener-{index}"))
        s.commit()
    with reading(url) as s:
        assert s.get(Job, 1) is not None
    for engine in storage._engines.values():  # one process per database, as each round stands for
        engine.dispose()
    storage._engines.clear()


def main() -> None:
    folder, index, urls = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    for r, url in enumerate(urls):
        (folder / f"r{r}-{index}.ready").touch()
        go = folder / f"r{r}.go"
        while not go.exists():  # spin, not sleep, so all start within microseconds; yield, so the test runs
            os.sched_yield()
        try:
            open_and_write(url, index)
            outcome = "ok"
        except Exception:
            outcome = traceback.format_exc()
        written = folder / f"r{r}-{index}.tmp"
        written.write_text(outcome)
        written.replace(folder / f"r{r}-{index}.out")  # whole, or not there


if __name__ == "__main__":
    main()
