"""Tuning without editing code: config, suppressions, fingerprints, --explain (issue 11, item 7)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from graphtrail.cli.main import app
from graphtrail.queries.findings import SEVERITIES, findings
from graphtrail.queries.findings.aws_ranges import load_aws_ranges
from graphtrail.queries.findings.config import ConfigError, load_config
from graphtrail.store.memory import MemoryStore
from tests.clirunner import cli_runner
from tests.conftest import ingest_paths

runner = cli_runner()


def _json(args):
    res = runner.invoke(app, ["findings", *args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def case_dir(scenario, tmp_path_factory):
    store, _ = scenario
    return store.case.path


def test_fingerprints_are_stable_across_a_reingest(scenario, tmp_path):
    store, _ = scenario
    logs = store.case.path.parent / "logs"
    again = MemoryStore(ingest_paths([str(logs)], tmp_path / "again"))
    first = {(f.rule_id, f.fingerprint) for f in findings(store)}
    second = {(f.rule_id, f.fingerprint) for f in findings(again)}
    assert first == second
    assert len({fp for _, fp in first}) == len(first)  # one fingerprint one finding


def test_config_thresholds_and_severities_change_the_answer(scenario, tmp_path):
    store, _ = scenario
    base = [f for f in findings(store) if f.rule_id == "GT-CRED-001"]
    assert base and all(f.severity == "high" for f in base)
    cfg = tmp_path / "graphtrail.toml"
    cfg.write_text('[thresholds]\nsecret_burst = 1000\n[severity]\nGT-PERS-003 = "low"\n')
    tuned = findings(store, config=load_config(cfg))
    assert not [f for f in tuned if f.rule_id == "GT-CRED-001"]
    assert {f.severity for f in tuned if f.rule_id == "GT-PERS-003"} == {"low"}


def test_suppression_by_principal_with_reason_and_expiry(case_dir, tmp_path):
    everything = _json(["--case", str(case_dir)])["findings"]
    target = next(f for f in everything if f["lineage"] and f["lineage"][0])
    principal = target["lineage"][0][0]
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'[[suppress]]\nrule = "{target["rule_id"]}"\nprincipal = "{principal}"\n'
                   f'reason = "reviewed in INC-7"\nexpires = "2999-01-01"\n')
    out = _json(["--case", str(case_dir), "--config", str(cfg)])
    assert target["fingerprint"] not in {f["fingerprint"] for f in out["findings"]}
    assert out["suppressed"] >= 1
    shown = _json(["--case", str(case_dir), "--config", str(cfg), "--suppressed"])["findings"]
    again = next(f for f in shown if f["fingerprint"] == target["fingerprint"])
    assert again["suppressed"] == "reviewed in INC-7"
    # an expired suppression silences nothing
    cfg.write_text(cfg.read_text().replace("2999-01-01", "2001-01-01"))
    out = _json(["--case", str(case_dir), "--config", str(cfg)])
    assert target["fingerprint"] in {f["fingerprint"] for f in out["findings"]}


def test_config_in_the_case_folder_is_found(case_dir, tmp_path):
    copy = tmp_path / "case"
    shutil.copytree(case_dir, copy)
    (copy / "graphtrail.toml").write_text('[severity]\nGT-PERS-003 = "info"\n')
    out = _json(["--case", str(copy)])["findings"]
    assert {f["severity"] for f in out if f["rule_id"] == "GT-PERS-003"} == {"info"}


@pytest.mark.parametrize("text, message", [
    ("[thresholds]\nsecret_brust = 3\n", "secret_brust is not a threshold"),
    ("[thresholds]\nsecret_burst = -1\n", "positive number"),
    ('[severity]\nGT-NOPE-1 = "low"\n', "GT-NOPE-1 is not a rule id"),
    ('[severity]\nGT-PERS-003 = "urgent"\n', "one of critical"),
    ('[[suppress]]\nrule = "GT-PERS-003"\nprincipal = "x"\n', "needs rule and reason"),
    ('[[suppress]]\nrule = "GT-PERS-003"\nreason = "r"\n', "name a principal"),
    ('[[suppress]]\nrule = "GT-PERS-003"\nreason = "r"\naccount = "1"\nexpires = "soon"\n', "not a date"),
    ("not toml [", "not valid TOML"),
])
def test_bad_config_is_a_usage_error_naming_the_file(case_dir, tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    res = runner.invoke(app, ["findings", "--case", str(case_dir), "--config", str(cfg)])
    assert res.exit_code == 2, res.output
    assert str(cfg) in res.stderr and message in res.stderr
    with pytest.raises(ConfigError):
        from graphtrail.queries.findings import RULES

        load_config(cfg, rule_ids=set(RULES))


def test_explain_shows_why_and_every_event_id(case_dir):
    found = _json(["--case", str(case_dir)])["findings"]
    f = next(x for x in found if x["rule_id"] == "GT-CRED-001")
    res = runner.invoke(app, ["findings", "--case", str(case_dir), "--explain", f["fingerprint"][:10]])
    assert res.exit_code == 0, res.output
    assert "threshold: 5" in res.stdout and "window minutes: 10" in res.stdout
    assert all(e in res.stdout for e in f["event_ids"])
    assert "lineage:" in res.stdout
    res = runner.invoke(app, ["findings", "--case", str(case_dir), "--explain", "ffffffffffffffff"])
    assert res.exit_code == 1


def test_org_accounts_file_makes_a_trust_internal(scenario, tmp_path):
    store, truth = scenario
    trust = [f for f in findings(store) if f.rule_id == "GT-PERS-006"]
    assert trust and {f.severity for f in trust} == {"critical"}
    outside = {a for f in trust for a in f.why["outside_organization"]}
    orgs = tmp_path / "orgs.txt"
    orgs.write_text("# our accounts\n" + "\n".join(sorted(outside)) + "\n")
    res = runner.invoke(app, ["findings", "--case", str(store.case.path), "--org-accounts",
                              str(orgs), "--rule", "GT-PERS-006", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert {f["severity"] for f in json.loads(res.stdout)["findings"]} == {"medium"}
    orgs.write_text("12345\n")
    res = runner.invoke(app, ["findings", "--case", str(store.case.path), "--org-accounts", str(orgs)])
    assert res.exit_code == 2 and "orgs.txt:1" in res.stderr


def test_aws_ranges_file_override_and_lookup(tmp_path):
    f = tmp_path / "ip-ranges.json"
    f.write_text(json.dumps({"createDate": "2026-01-01-00-00-00", "prefixes": [
        {"ip_prefix": "3.0.0.0/15", "region": "us-east-1", "service": "AMAZON"},
        {"ip_prefix": "3.0.5.32/29", "region": "us-east-1", "service": "EC2"}]}))
    r = load_aws_ranges(f)
    assert r.complete and r.where("3.0.5.33") and r.where("3.1.255.255")
    assert r.where("3.2.0.0") is None and r.where("not-an-ip") is None
    shipped = load_aws_ranges(None)
    assert not shipped.complete and shipped.where("18.236.253.47")
    f.write_text("{}")
    with pytest.raises(ValueError, match="ip-ranges.json"):
        load_aws_ranges(f)


def test_today_decides_expiry():
    from graphtrail.queries.findings.config import Suppression

    s = Suppression(rule="R", reason="x", account="1", expires=dt.date(2026, 1, 1))
    assert s.active(dt.date(2026, 1, 1)) and not s.active(dt.date(2026, 1, 2))


def _lineage_principal(report) -> tuple[str, str]:
    """(rule id, origin principal) of a finding of the report with a lineage."""
    f = next(f for f in report.findings if f.lineage and f.lineage[0])
    return f.rule_id, f.lineage[0][0]


def test_the_report_is_tuned_by_the_same_config_as_findings(scenario, tmp_path):
    """A suppression or a severity in graphtrail.toml changes the report's findings as it
    changes `graphtrail findings`: an investigator never sees a finding they closed as a
    false positive come back in the report, nor two severities for one finding."""
    from graphtrail.views.report import build_report

    store, truth = scenario
    plain = build_report(store, truth.leaked_key)
    rule, principal = _lineage_principal(plain)
    other = next(f.rule_id for f in plain.findings if f.rule_id != rule and f.severity != "info")
    copy = tmp_path / "case"
    shutil.copytree(store.case.path, copy)
    (copy / "graphtrail.toml").write_text(
        f'[severity]\n{other} = "info"\n'
        f'[[suppress]]\nrule = "{rule}"\nprincipal = "{principal}"\nreason = "reviewed in INC-9"\n')
    listed = _json(["--case", str(copy)])
    shown = {f["fingerprint"] for f in listed["findings"]}
    out = tmp_path / "report.md"
    res = runner.invoke(app, ["report", "--access-key", truth.leaked_key, "--case", str(copy),
                              "--format", "md", "--out", str(out)])
    assert res.exit_code == 0, res.output
    gone = [f for f in plain.findings if f.rule_id == rule]
    assert gone and f"suppressed by {copy / 'graphtrail.toml'}" in res.stdout
    text = out.read_text(encoding="utf-8")
    kept = [f for f in plain.findings if f.rule_id != rule]
    assert f"## Findings ({len(kept)})" in text
    assert "reviewed in INC-9" in text and f"| {rule} |" not in text
    assert f"| info | {other} |" in text
    # the report's findings are the findings command's, those of the lineage
    tuned = build_report(MemoryStore.open(copy), truth.leaked_key,
                         config=load_config(copy / "graphtrail.toml"))
    assert {f.fingerprint for f in tuned.findings} <= shown
    assert {f.fingerprint for f in tuned.findings} == {f.fingerprint for f in kept}
    assert {f.fingerprint for f in tuned.suppressed} == {f.fingerprint for f in gone}
    assert tuned.severity == min((f.severity for f in tuned.findings), key=SEVERITIES.index)
    html = tmp_path / "report.html"
    res = runner.invoke(app, ["report", "--access-key", truth.leaked_key, "--case", str(copy),
                              "--out", str(html)])
    assert res.exit_code == 0 and "reviewed in INC-9" in html.read_text(encoding="utf-8")
    # --config names another file: that one, not the case folder's
    cfg = tmp_path / "none.toml"
    cfg.write_text("")
    res = runner.invoke(app, ["report", "--access-key", truth.leaked_key, "--case", str(copy),
                              "--format", "md", "--out", str(out), "--config", str(cfg)])
    assert res.exit_code == 0 and f"## Findings ({len(plain.findings)})" in out.read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text("[thresholds]\nsecret_brust = 3\n")
    res = runner.invoke(app, ["report", "--access-key", truth.leaked_key, "--case", str(copy),
                              "--out", str(tmp_path / "x.html"), "--config", str(bad)])
    assert res.exit_code == 2 and "secret_brust" in res.stderr
    assert not (tmp_path / "x.html").exists()
