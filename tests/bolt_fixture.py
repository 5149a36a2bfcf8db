"""The ``bolt_server`` pytest fixture: a Bolt server for the whole test session.

With ``NEO4J_URI`` set (a Neo4j from ``docker compose up -d``, or any Bolt server), the tests use
it with ``NEO4J_USERNAME`` / ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE`` (default ``neo4j``), and
nothing is started. Otherwise an ArcadeDB server from the ``arcadedb-embedded`` wheel is started
on a free loopback port (see :mod:`tests.bolt_server`) and stopped when the session ends; the
tests are skipped when that wheel is not installed.

Tests share the server and start from an empty graph (``MATCH (n) DETACH DELETE n``): point
``NEO4J_URI`` at a server whose graph may be lost, never at one holding an investigation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.bolt_server import BoltServer, arcadedb_home, arcadedb_server

__all__ = ["bolt_server", "external_bolt_server"]


def external_bolt_server() -> BoltServer | None:
    """The server named by ``NEO4J_URI`` and friends, or None when it is not set."""
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        return None
    return BoltServer(
        uri=uri,
        user=os.environ.get("NEO4J_USERNAME", "neo4j"),
        password=os.environ.get("NEO4J_PASSWORD", ""),
        database=os.environ.get("NEO4J_DATABASE", "neo4j"),
    )


@pytest.fixture(scope="session")
def bolt_server() -> Iterator[BoltServer]:
    """Yield a running Bolt server: ``uri``, ``user``, ``password``, ``database`` (and ``auth``)."""
    external = external_bolt_server()
    if external is not None:
        yield external
        return
    try:
        arcadedb_home()
    except RuntimeError as exc:
        pytest.fail(f"no Bolt server: NEO4J_URI is unset and {exc} (pip install -e '.[test]')")
    with arcadedb_server() as server:
        yield server
