"""The job queue: huey tasks that supervise one subprocess per job (see docs/ARCHITECTURE.md)."""
