"""One registry of event families: nobody re-types a family's event names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from graphtrail import families
from graphtrail.families import REGISTRY, family

ROOT = Path(__file__).resolve().parents[1]
# synth writes the logs the tests read: it names the events it fabricates, one by one
_SKIP = {ROOT / "graphtrail" / "families.py"}
_SKIP_DIRS = (ROOT / "graphtrail" / "synth",)


def _modules() -> list[Path]:
    out = []
    for top in ("graphtrail", "loaders"):
        for p in sorted((ROOT / top).rglob("*.py")):
            if p in _SKIP or any(d in p.parents for d in _SKIP_DIRS):
                continue
            out.append(p)
    return out


def _literal_name_sets(tree: ast.AST):
    """Every set/list/tuple literal, and every call's positional arguments, of 2+ strings."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Set | ast.List | ast.Tuple):
            items = node.elts
        elif isinstance(node, ast.Call):
            items = node.args
        else:
            continue
        names = {e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        if len(names) >= 2:
            yield node.lineno, names


def test_no_module_redeclares_a_registered_family():
    multi = [f for f in REGISTRY.values() if len(f.events) >= 2]
    found = []
    for path in _modules():
        for line, names in _literal_name_sets(ast.parse(path.read_text(), str(path))):
            for f in multi:
                if f.events <= names:
                    found.append(f"{path.relative_to(ROOT)}:{line} re-types {f.name}; "
                                 f"import graphtrail.families.{f.name.upper()}")
    assert not found, "\n".join(found)


def test_the_check_sees_a_redeclared_family(tmp_path):
    # the detector itself: a literal list holding a family's names is caught
    tree = ast.parse('X = ["GetSessionToken", "GetFederationToken", "Other"]')
    hits = [n for _, n in _literal_name_sets(tree) if families.STS_TOKENS.events <= n]
    assert hits


def test_issuing_lists_no_longer_drift():
    from loaders.events import ISSUING_EVENTS
    from loaders.facts.credentials import STS_ISSUING

    assert STS_ISSUING == families.STS_ISSUING.events
    assert ISSUING_EVENTS == families.CREDENTIAL_ISSUING.events
    assert "GetRoleCredentials" in ISSUING_EVENTS and "GetRoleCredentials" not in STS_ISSUING
    assert STS_ISSUING <= ISSUING_EVENTS


def test_handlers_cover_the_iam_families():
    from loaders.facts.registry import HANDLERS

    for f in (families.KEY_CREATION, families.LOGIN_PROFILE, families.POLICY_CHANGE,
              families.TRUST_CHANGE, families.KEY_CHANGE):
        assert set(f.events) <= set(HANDLERS), f.name


def test_a_family_is_declared_once():
    with pytest.raises(ValueError, match="declared twice"):
        family("trust_change", "again", "UpdateAssumeRolePolicy")
    assert REGISTRY["trust_change"].events == {"UpdateAssumeRolePolicy"}
