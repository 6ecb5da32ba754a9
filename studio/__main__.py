"""`python -m studio`: the headless entry point. Like launch.py for the UI, it is where the layers meet: the
studio's CLI is handed the queue that runs jobs (jobs.queue), which the studio package itself never imports."""
import sys

import jobs.queue
from studio.cli import main

sys.exit(main(jobs.queue))
