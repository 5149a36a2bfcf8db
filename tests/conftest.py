"""Shared fixtures: generated scenarios ingested into cases, the Bolt server, the browser."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from graphtrail.cli.ingest import finish_ingest, run_ingest
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.scenarios import build_scenario
from loaders.sources.files import list_files
from tests.bolt_fixture import bolt_server  # noqa: F401  (fixture)
from tests.browser import browser  # noqa: F401  (fixture)

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
# Hermetic: a refreshed AWS ip-ranges list in the user's cache must not change any answer.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="graphtrail-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], True)  # leave no folder behind
# The command of the installation under test: the script beside this interpreter (a venv's
# bin/ is not on PATH when it runs `.venv/bin/python -m pytest`), else the one on PATH.
_BESIDE = Path(sys.executable).with_name("graphtrail")
GRAPHTRAIL = str(_BESIDE) if _BESIDE.exists() else (shutil.which("graphtrail") or "graphtrail")


def fake_aws_env(env, endpoint: str, key: str = "testing") -> None:
    """Point boto3 at a local endpoint with throwaway credentials (``env``: a MonkeyPatch)."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        env.delenv(name, raising=False)
    env.setenv("AWS_ACCESS_KEY_ID", key)
    env.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env.setenv("AWS_CONFIG_FILE", os.devnull)
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    env.setenv("AWS_ENDPOINT_URL", endpoint)


@contextmanager
def moto_s3():
    """moto's S3 in server mode on a free loopback port, boto3 pointed at it; yields the URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        with pytest.MonkeyPatch.context() as env:
            fake_aws_env(env, url)
            yield url
    finally:
        server.stop()


def _xdist_group(item: pytest.Item) -> str:
    """Which tests one pytest-xdist worker runs together (``-n auto --dist loadgroup``).

    A worker pays for a module's fixtures once, so a module's tests stay together; the tests
    on the Bolt server share one server (one JVM), whatever their module; the command matrix
    and the golden answers split by data source, each source ingested on one worker only.
    """
    if "bolt_server" in item.fixturenames:
        return "bolt-server"
    module = item.nodeid.split("::", 1)[0]
    params = getattr(getattr(item, "callspec", None), "params", {})
    for by in ("source", "case"):
        if module.endswith(("test_cli_matrix.py", "test_goldens.py")) and by in params:
            return f"{module}[{params[by]}]"
    return module


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/golden/ with this run's answers (review the diff!)")


@pytest.fixture(scope="session")
def update_goldens(request) -> bool:
    """``--update-goldens`` or GRAPHTRAIL_UPDATE_GOLDENS=1: rewrite the golden answers."""
    return bool(request.config.getoption("--update-goldens")
                or os.environ.get("GRAPHTRAIL_UPDATE_GOLDENS") == "1")


def ingest_paths(paths: list[str], case_dir: Path, workers: int | None = 0) -> Case:
    """Ingest ``paths`` into ``case_dir`` and build its graph, as ``graphtrail ingest`` does."""
    case = Case.open(case_dir, create=True)
    summary = run_ingest(list(list_files(paths)), case, workers=workers)
    finish_ingest(case, summary)
    return case


@pytest.fixture(scope="session")
def scenario(tmp_path_factory):
    """The demo incident (seed 0) generated, ingested; yields (store, ground truth)."""
    root = tmp_path_factory.mktemp("scenario")
    truth = build_scenario(root / "logs", seed=0, noise_events=2000)
    case = ingest_paths([str(root / "logs")], root / "case")
    return MemoryStore(case), truth


@pytest.fixture
def demo_case_copy(scenario, tmp_path):
    """A copy of the demo case, its own graph build (no findings kept yet)."""
    from graphtrail.queries.findings.cache import FOLDER

    store, _ = scenario
    copy = tmp_path / "case"
    shutil.copytree(store.case.path, copy, symlinks=True)
    shutil.rmtree(MemoryStore.open(copy).case.graph_dir() / FOLDER, ignore_errors=True)
    return copy


@pytest.fixture(scope="session")
def datasets_case(tmp_path_factory):
    """Every file of ../shared/datasets ingested (skipped when the folder is absent)."""
    if not DATASETS.is_dir():
        pytest.skip(f"{DATASETS} is absent")
    root = tmp_path_factory.mktemp("datasets")
    return MemoryStore(ingest_paths([str(DATASETS)], root / "case"))
