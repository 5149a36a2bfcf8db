"""The direction of imports: the library never loads its CLI; the core never loads loaders."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded_after(module: str) -> list[str]:
    code = (f"import json, sys, {module}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('graphtrail', 'loaders'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_python_api_does_not_load_the_cli():
    loaded = _loaded_after("graphtrail.api")
    assert "graphtrail.wiring" in loaded  # the composition root joins loaders to the case
    assert not [m for m in loaded if m.startswith("graphtrail.cli")]


@pytest.mark.parametrize("module", ["graphtrail.queries.blast_radius", "graphtrail.queries.chains",
                                    "graphtrail.queries.findings", "graphtrail.store.memory",
                                    "graphtrail.views.report"])
def test_store_queries_and_views_do_not_load_loaders(module):
    loaded = _loaded_after(module)
    assert not [m for m in loaded if m.startswith(("loaders", "graphtrail.cli"))], loaded
