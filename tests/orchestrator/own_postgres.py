"""A PostgreSQL server of the test's own, on a spare loopback port, that it may restart.

The machine's server on 5432 is shared and must never be restarted; this one lives in a
temporary folder owned by the `postgres` user (the server refuses to run as root) and is
stopped with its folder removed afterwards. Skips when initdb, the `postgres` user or the
rights to switch to it are missing. No tests here.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_run_support import free_port


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@dataclass
class OwnPostgres:
    data: Path
    port: int
    pg_ctl: str
    as_postgres: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        cmd = [*self.as_postgres, self.pg_ctl, "-D", str(self.data), "-w", "-t", "30", *args]
        # no pipes: the server a (re)start leaves running would hold them open
        subprocess.run(
            cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """What the audit did: a fast restart, which ends every session."""
        self._ctl("-m", "fast", "-l", str(self.data / "server.log"), "restart")

    def sql(self, statement: str) -> list[tuple]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                result = conn.execute(text(statement))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no initdb/pg_ctl on this machine")
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user to run a server as")
    if os.geteuid() == 0:
        as_postgres = ["runuser", "-u", "postgres", "--"]
    elif os.geteuid() == user.pw_uid:
        as_postgres = []
    else:
        pytest.skip("cannot run a PostgreSQL server here (not root, not postgres)")
    root = Path(tempfile.mkdtemp(prefix="s3delta-pg-"))
    data = root / "data"
    os.chown(root, user.pw_uid, user.pw_gid)
    server = OwnPostgres(data, free_port(), pg_ctl, as_postgres)
    try:
        subprocess.run(
            [*as_postgres, initdb, "-D", str(data), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                server.sql("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield server
    finally:
        with suppress(Exception):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
