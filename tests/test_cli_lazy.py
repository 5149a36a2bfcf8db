"""``graphtrail --help`` lists every command without importing any of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from graphtrail.cli.lazy import COMMANDS, _described, load_command

HEAVY = ("pyarrow", "pandas", "networkx", "boto3", "numpy", "cryptography", "neo4j")


def test_help_imports_no_command_module():
    code = ("import sys; sys.argv = ['graphtrail', '--help']\n"
            "from graphtrail.cli.main import app\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[-1] == "[]", lines[-1]
    listed = [ln.split()[0] for ln in lines[lines.index("Commands:") + 1:-1] if ln.startswith("  ")
              and not ln.startswith("   ")]
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_help_is_the_commands_own(name):
    """The help read from the source is the help the loaded command shows."""
    loaded = load_command(name)
    assert loaded.name == name
    for limit in (45, 80):
        assert _described(name).get_short_help_str(limit) == loaded.get_short_help_str(limit)


def test_view_needs_no_pandas():
    """``graphtrail view`` draws from Arrow and networkx: the report's pandas is not imported
    with the command (a quarter of a second of a cold start)."""
    code = ("import sys\nfrom graphtrail.cli.lazy import load_command\n"
            "load_command('view'); load_command('report')\nprint('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_the_command_process_freezes_what_it_imported():
    """``graphtrail`` moves its imports out of the collector's reach once its command is
    loaded (a cold question's collections then walk only what the question made); a test
    runner invoking commands in its own process is left as it is."""
    code = ("import atexit, gc, sys\nsys.argv = ['graphtrail', 'chains', '--help']\n"
            "atexit.register(lambda: print(gc.get_freeze_count() > 10_000, gc.isenabled()))\n"
            "from graphtrail.cli.main import app\napp()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["True", "True"]

    import gc

    from typer.testing import CliRunner

    from graphtrail.cli.main import app

    frozen = gc.get_freeze_count()
    assert CliRunner().invoke(app, ["chains", "--help"]).exit_code == 0
    assert gc.get_freeze_count() == frozen and gc.isenabled()


def test_chains_needs_no_networkx():
    """``graphtrail chains`` reads sessions, not a graph: networkx (a tenth of a second of a
    cold start) is imported only by a question that builds one."""
    code = ("import sys\nfrom graphtrail.cli.lazy import load_command\n"
            "load_command('chains'); load_command('blast-radius')\nprint('networkx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_the_command_process_freezes_what_its_answer_made():
    """In ``graphtrail``'s own process, a block run with the collector paused leaves what it
    made to the exit (frozen, so no collection walks it); elsewhere it is left as it is."""
    code = ("import gc\nfrom graphtrail.bulk import collector_paused, exits_after_command\n"
            "exits_after_command()\nbefore = gc.get_freeze_count()\n"
            "with collector_paused():\n    answer = [[i] for i in range(50_000)]\n"
            "print(gc.get_freeze_count() - before >= 50_000, gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]

    import gc

    from graphtrail.bulk import collector_paused

    frozen = gc.get_freeze_count()
    with collector_paused():
        answer = [[i] for i in range(50_000)]
    assert gc.get_freeze_count() == frozen and gc.isenabled() and len(answer) == 50_000


def test_the_command_process_imports_its_command_without_collections():
    """The modules a command pulls in live as long as the process: no collection walks
    them while they are built."""
    code = ("import atexit, gc, sys\nsys.argv = ['graphtrail', 'chains', '--help']\nhits = []\n"
            "gc.callbacks.append(lambda phase, info: phase == 'start' and gc.get_freeze_count() == 0"
            " and 'graphtrail.cli.common' in sys.modules and hits.append(info['generation']))\n"
            "atexit.register(lambda: print('collections', len(hits)))\n"
            "from graphtrail.cli.main import app\napp()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["collections", "0"]


def _pool_after(argv: list[str], env: dict[str, str] | None = None) -> str:
    """The name of Arrow's default pool when a process running ``argv`` exits."""
    import os

    code = ("import atexit, sys\nsys.argv = " + repr(argv) + "\n"
            "def said():\n    import pyarrow as pa\n"
            "    print('pool', pa.default_memory_pool().backend_name)\n"
            "atexit.register(said)\nfrom graphtrail.cli.main import app\napp()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    return [ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("pool ")][-1]


def test_the_command_process_allocates_arrow_memory_with_jemalloc(tmp_path):
    """``graphtrail`` switches Arrow to jemalloc as a command loads (graphtrail.arrow_pool);
    a pool the user named in ``ARROW_DEFAULT_MEMORY_POOL`` is left alone."""
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
        expected = "jemalloc"
    except NotImplementedError:  # a wheel built without it (Windows): pyarrow's default stays
        expected = pa.default_memory_pool().backend_name
    argv = ["graphtrail", "keys", "--case", str(tmp_path / "none")]
    assert _pool_after(argv) == expected
    assert _pool_after(argv, {"ARROW_DEFAULT_MEMORY_POOL": "system"}) == "system"
    # --help of the whole command loads no command: Arrow is not even imported for it
    code = ("import sys\nsys.argv = ['graphtrail', '--help']\nfrom graphtrail.cli.main import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\nprint('pyarrow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"


def test_a_library_caller_keeps_its_pool(tmp_path):
    """Commands invoked in a caller's own process (a test runner's) leave its pool be."""
    code = ("import pyarrow as pa\nfrom typer.testing import CliRunner\n"
            "from graphtrail.cli.main import app\nbefore = pa.default_memory_pool().backend_name\n"
            f"CliRunner().invoke(app, ['keys', '--case', {str(tmp_path / 'none')!r}])\n"
            "print(before == pa.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "True"
