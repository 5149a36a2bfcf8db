"""A throwaway Bolt server for tests and benchmarks: ArcadeDB from the ``arcadedb-embedded`` wheel.

No Docker engine runs in CI or on this machine, and Neo4j is not on the package registries. The
PyPI wheel ``arcadedb-embedded`` (Apache-2.0) ships ArcadeDB's server jars, its Bolt plugin and a
Java runtime, and the official ``neo4j`` driver talks to it as to a Neo4j 5.26. This module starts
that server as a child process, bound to 127.0.0.1 on free ports with a random root password and a
fresh root directory, waits until Bolt accepts a driver connection, and stops it by process id.

Example::

    with arcadedb_server() as server:
        server.uri        # 'bolt://127.0.0.1:<port>'
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import neo4j
from neo4j.exceptions import DriverError, Neo4jError

__all__ = [
    "BoltServer",
    "arcadedb_home",
    "arcadedb_command",
    "arcadedb_env",
    "arcadedb_server",
    "free_port",
]

DATABASE = "graphtrail"
USER = "root"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class BoltServer:
    """Where a running Bolt server listens and how to log in."""

    uri: str
    user: str
    password: str
    database: str
    pid: int | None = None  # None when the server is not ours (NEO4J_URI)
    log: Path | None = None

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def __iter__(self) -> Iterator[str]:
        """Unpacks as ``uri, user, password, database = server``."""
        return iter((self.uri, self.user, self.password, self.database))


def arcadedb_home() -> Path:
    """The installed ``arcadedb_embedded`` package folder (holds ``jre/`` and ``jars/``).

    Located without importing the package, which would load JPype.
    """
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("arcadedb-embedded is not installed: pip install arcadedb-embedded")
    home = Path(next(iter(spec.submodule_search_locations)))
    if not (home / "jre" / "bin" / "java").is_file() or not (home / "jars").is_dir():
        raise RuntimeError(
            f"{home}: expected jre/bin/java and jars/ in the arcadedb-embedded wheel"
        )
    return home


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def arcadedb_command(
    root: Path, *, bolt_port: int, http_port: int, database: str = DATABASE, heap: str = "1g"
) -> list[str]:
    """The java command line that starts ArcadeDB with Bolt on ``bolt_port``, all on 127.0.0.1.

    The root password is not on it: see :func:`arcadedb_env`.
    """
    home = arcadedb_home()
    props = {
        "arcadedb.server.rootPath": str(root),
        "arcadedb.server.logsDirectory": str(root / "log"),
        "arcadedb.server.defaultDatabases": f"{database}[{USER}]",
        "arcadedb.server.plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
        # Both listeners default to 0.0.0.0: keep the throwaway server off the network.
        "arcadedb.bolt.host": "127.0.0.1",
        "arcadedb.bolt.port": str(bolt_port),
        "arcadedb.server.httpIncomingHost": "127.0.0.1",
        "arcadedb.server.httpIncomingPort": str(http_port),
    }
    return [
        str(home / "jre" / "bin" / "java"),
        f"-Xmx{heap}",
        "-cp",
        str(home / "jars" / "*"),  # a classpath wildcard, expanded by java, not by a shell
        *(f"-D{k}={v}" for k, v in props.items()),
        "com.arcadedb.server.ArcadeDBServer",
    ]


def arcadedb_env(password: str) -> dict[str, str]:
    """The server's environment: ours plus the root password.

    ArcadeDB reads any setting from an environment variable of the same name as well as from a
    ``-D`` property. The environment keeps the password out of ``ps`` output, which every local
    user can read; ``/proc/<pid>/environ`` is readable by the owner only.
    """
    return {**os.environ, "arcadedb.server.rootPassword": password}


@contextlib.contextmanager
def arcadedb_server(
    *, database: str = DATABASE, timeout: float = START_TIMEOUT, heap: str = "1g"
) -> Iterator[BoltServer]:
    """Start ArcadeDB with Bolt, yield where it listens, and always stop it and remove its files.

    Raises ``RuntimeError`` with the end of the server log when it exits or is not ready within
    ``timeout`` seconds.
    """
    with tempfile.TemporaryDirectory(prefix="graphtrail-arcadedb-") as tmp:
        root = Path(tmp)
        password = secrets.token_urlsafe(18)
        bolt_port, http_port = free_port(), free_port()
        while http_port == bolt_port:
            http_port = free_port()
        cmd = arcadedb_command(
            root, bolt_port=bolt_port, http_port=http_port, database=database, heap=heap
        )
        log = root / "server.log"
        with log.open("wb") as out:
            # A new session: a Ctrl-C meant for pytest must reach us first, so we stop it cleanly.
            proc = subprocess.Popen(
                cmd,
                cwd=root,
                env=arcadedb_env(password),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,  # without a password it would prompt for one
                start_new_session=True,
            )
        server = BoltServer(
            f"bolt://127.0.0.1:{bolt_port}", USER, password, database, proc.pid, log
        )
        try:
            _wait_ready(server, proc, timeout)
            yield server
        finally:
            _stop(proc)


def _wait_ready(server: BoltServer, proc: subprocess.Popen, timeout: float) -> None:
    """Poll until a driver session can run a query on ``server.database``."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"ArcadeDB exited with code {proc.returncode} before Bolt was ready "
                f"on {server.uri}:\n{_tail(server.log)}"
            )
        try:
            # session.run, not execute_query: the latter retries with back-off for up to 30 s.
            with (
                neo4j.GraphDatabase.driver(server.uri, auth=server.auth) as driver,
                driver.session(database=server.database) as session,
            ):
                # The default database is created after Bolt listens: wait for it too.
                session.run("RETURN 1").consume()
            return
        except (DriverError, Neo4jError, OSError):  # not listening, no database yet...
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"ArcadeDB Bolt not ready on {server.uri} after {timeout:.0f} s:\n"
                    f"{_tail(server.log)}"
                ) from None
            time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    """Terminate by process id, then kill if it has not exited in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)


def _tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return "(no server log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


if __name__ == "__main__":
    # Start a server by hand to explore it: prints where it listens, stops on Ctrl-C or SIGTERM.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    t0 = time.perf_counter()
    with arcadedb_server() as srv:
        print(f"ready in {time.perf_counter() - t0:.1f} s, pid {srv.pid}", flush=True)
        print(f"uri={srv.uri} user={srv.user} password={srv.password} database={srv.database}")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
