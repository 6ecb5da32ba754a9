"""A throwaway PostgreSQL cluster for the tests: Debian's server binaries run by hand (`initdb`, `pg_ctl`) in a
temp folder, on a free loopback port, with a password; no system service, nothing left behind. As root (CI
here) the server runs as Debian's `postgres` user, which PostgreSQL insists on; the folder is removed after."""
from __future__ import annotations

import glob
import itertools
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.fleet import free_port

USER = "studio"


def server_bin() -> Path | None:
    """The newest installed server's binaries (Debian keeps them off PATH, per major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="studio-pg-"))  # not under pytest's 0700 root-only tmp
        self.data = self.root / "data"
        self.password = secrets.token_hex(12)
        self.port = free_port()
        self._names = itertools.count()
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_owner, *args], check=True, capture_output=True, text=True, timeout=300)

    def start(self) -> "PostgresCluster":
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self._as_owner:
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                  "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--no-sync")
        pwfile.unlink()
        # fsync off: a test cluster is thrown away; the tests' concurrency is what they are about, not durability
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-t", "300", "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c max_connections=300", "start")
        return self

    def url(self, database: str) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database of the cluster; its URL."""
        import psycopg

        name = f"studio_test_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
