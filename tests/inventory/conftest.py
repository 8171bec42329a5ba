"""Inventory fixtures: a database per test, on SQLite and on a real PostgreSQL server when one can run."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL server for the session (or HVDR_TEST_POSTGRES_URL's); skipped with the reason."""
    url = os.environ.get("HVDR_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql), so its inventory tests are skipped")
    runner: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser") or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a 'postgres' user to run PostgreSQL as")
        runner = ["runuser", "-u", "postgres", "--"]
    data = Path(tempfile.mkdtemp(prefix="hvdr-pg-"))
    if runner:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    try:
        subprocess.run(
            [*runner, initdb, "-D", str(data / "db"), "-U", "hvdr", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *runner,
                pg_ctl,
                "-D",
                str(data / "db"),
                "-l",
                str(data / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {data} -h 127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"PostgreSQL could not be started: {exc} {detail.decode(errors='replace')[:300]}")
    try:
        yield f"postgresql://hvdr@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*runner, pg_ctl, "-D", str(data / "db"), "-m", "fast", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'inventory.db'}"
    server: str = request.getfixturevalue("postgres_server")
    import psycopg

    name = f"hvdr_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"
