"""Community rules: Sigma rules for CloudTrail run over a case (issue 11, item 8).

Each test writes its own small Sigma rules and compares the eventIDs they raise with the
answer computed independently from the generated trail's raw records (plain Python over the
delivered JSON files, not the case).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import re
import textwrap
from pathlib import Path

import pytest

from graphtrail.cli.main import app
from graphtrail.queries.findings import findings
from graphtrail.queries.findings.sigma_rules import load_sigma
from tests.test_ingest_cli import _runner

runner = _runner()  # stdout and stderr apart whatever click

RULES = {
    # a list is an OR; several fields are an AND
    "iam_creations.yml": """
        title: IAM identities or keys created
        id: 5f0c1d2e-0000-4000-8000-000000000001
        status: test
        level: high
        tags: [attack.persistence, attack.t1136.003]
        logsource: {product: aws, service: cloudtrail}
        detection:
            selection:
                eventSource: iam.amazonaws.com
                eventName: [CreateUser, CreateAccessKey, CreateLoginProfile]
            condition: selection
    """,
    # a field inside requestParameters, contains / endswith, and `not` of a cidr
    "backdoor_key.yml": """
        title: Access key for a user named like a backdoor
        id: 5f0c1d2e-0000-4000-8000-000000000002
        level: critical
        tags: [attack.persistence, attack.t1098.001]
        logsource: {product: aws, service: cloudtrail}
        detection:
            selection:
                eventName|endswith: accesskey
                requestParameters.userName|contains: BACKDOOR
            corporate:
                sourceIPAddress|cidr: 203.0.113.0/24
            condition: selection and not corporate
    """,
    # `1 of selection_*`, `all` of values, a regular expression, nested identity fields
    "tampering.yml": """
        title: Logging or detection switched off by a non-browser client
        id: 5f0c1d2e-0000-4000-8000-000000000003
        level: medium
        tags: [attack.defense-evasion, attack.t1562.008]
        logsource: {product: aws, service: cloudtrail}
        detection:
            selection_trail:
                eventSource: cloudtrail.amazonaws.com
                eventName|re: '^(Stop|Delete).*'
            selection_detector:
                eventName: DeleteDetector
            cli:
                userAgent|contains|all: ['boto3', 'KALI']
            role:
                userIdentity.type: AssumedRole
                userIdentity.sessionContext.sessionIssuer.arn|startswith: 'arn:aws:iam::'
            condition: 1 of selection_* and cli and role
    """,
    # denied calls of an IAM user: errorCode values, `all of`, wildcard in the middle
    "denied_user.yml": """
        title: Denied calls of an IAM user
        id: 5f0c1d2e-0000-4000-8000-000000000004
        level: low
        logsource: {product: aws, service: cloudtrail}
        detection:
            denied:
                errorCode: [AccessDenied, 'Client.Unauthorized*']
            user:
                userIdentity.arn: 'arn:aws:iam::*:user/*'
            condition: all of them
    """,
}

UNSUPPORTED = {
    "keyword.yml": ("""
        title: Keyword search
        logsource: {product: aws, service: cloudtrail}
        detection:
            keywords: [backdoor]
            condition: keywords
    """, "keyword search"),
    "fieldref.yml": ("""
        title: Field reference
        logsource: {product: aws, service: cloudtrail}
        detection:
            sel:
                userIdentity.userName|fieldref: requestParameters.userName
            condition: sel
    """, "|fieldref"),
    "tls.yml": ("""
        title: Field not kept
        logsource: {product: aws, service: cloudtrail}
        detection:
            sel:
                tlsDetails.tlsVersion: TLSv1
            condition: sel
    """, "field 'tlsDetails.tlsVersion'"),
    "count.yml": ("""
        title: Old aggregation
        logsource: {product: aws, service: cloudtrail}
        detection:
            sel:
                eventName: ListBuckets
            condition: sel | count() > 5
    """, "count.yml"),
    "broken.yml": ("title: [unclosed\n", "broken.yml"),
}


def _write(folder: Path, rules: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in rules.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def _records(logs: Path) -> dict[str, dict]:
    """Every raw record of the trail by eventID (both trails deliver some twice)."""
    out = {}
    for p in sorted(logs.rglob("*.json*")):
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        for r in json.loads(raw).get("Records", []):
            out.setdefault(r["eventID"], r)
    return out


def _expected(records: dict[str, dict]) -> dict[str, set[str]]:
    """The answer of each rule of RULES, written in plain Python over the raw records."""
    def ident(r, *path):
        v = r.get("userIdentity") or {}
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    corp = ipaddress.ip_network("203.0.113.0/24")

    def in_corp(ip):
        try:
            return ipaddress.ip_address(ip) in corp
        except ValueError:
            return False

    def ua(r):
        return (r.get("userAgent") or "").lower()

    tests = {
        "iam_creations": lambda r: r.get("eventSource") == "iam.amazonaws.com"
        and r.get("eventName") in ("CreateUser", "CreateAccessKey", "CreateLoginProfile"),
        "backdoor_key": lambda r: r.get("eventName", "").lower().endswith("accesskey")
        and "backdoor" in str((r.get("requestParameters") or {}).get("userName", "")).lower()
        and not in_corp(r.get("sourceIPAddress", "")),
        "tampering": lambda r: ((r.get("eventSource") == "cloudtrail.amazonaws.com"
                                 and re.search("^(Stop|Delete).*", r.get("eventName", "")))
                                or r.get("eventName", "").lower() == "deletedetector")
        and "boto3" in ua(r) and "kali" in ua(r)
        and ident(r, "type") == "AssumedRole"
        and str(ident(r, "sessionContext", "sessionIssuer", "arn") or "").startswith("arn:aws:iam::"),
        "denied_user": lambda r: (r.get("errorCode") == "AccessDenied"
                                  or str(r.get("errorCode") or "").lower().startswith("client.unauthorized"))
        and re.fullmatch(r"arn:aws:iam::.*:user/.*", str(ident(r, "arn") or ""), re.I),
    }
    return {name: {e for e, r in records.items() if t(r)} for name, t in tests.items()}


@pytest.fixture(scope="module")
def sigma_case(scenario, tmp_path_factory):
    store, _ = scenario
    folder = _write(tmp_path_factory.mktemp("sigma") / "rules", RULES)
    return store, folder, _expected(_records(store.case.path.parent / "logs"))


def test_each_rule_raises_exactly_the_calls_it_describes(sigma_case):
    store, folder, expected = sigma_case
    rules = load_sigma(folder)
    assert rules.warnings == []
    found = [f for f in findings(store, sigma=rules) if f.rule_id.startswith("SIGMA-")]
    for name, text in RULES.items():
        rid = "SIGMA-" + re.search(r"id: (\S+)", text).group(1)
        got = {e for f in found if f.rule_id == rid for e in f.event_ids}
        assert got == expected[name.removesuffix(".yml")], name
    # the truth is not empty: every rule has something to find on this trail
    assert all(expected.values())


def test_a_hit_is_a_finding_like_the_catalogue(sigma_case):
    store, folder, expected = sigma_case
    found = [f for f in findings(store, sigma=folder) if f.rule_id.startswith("SIGMA-")]
    key = next(f for f in found if f.rule_id.endswith("0002"))
    assert key.severity == "critical" and key.tactic == "Persistence"
    assert key.technique == "T1098.001" and key.title.startswith("Access key for a user")
    # attached to its credential lineage: the leaked key of user/ci-deploy behind the chain
    assert key.lineage and key.lineage[0][0].endswith(":user/ci-deploy")
    assert len(key.fingerprint) == 16 and key.why["sigma_rule"].endswith("backdoor_key.yml")
    low = [f for f in found if f.rule_id.endswith("0004")]
    assert low and {f.severity for f in low} == {"low"} and {f.tactic for f in low} == {"Sigma"}
    # stable: the same rules give the same fingerprints
    again = [f for f in findings(store, sigma=folder) if f.rule_id.startswith("SIGMA-")]
    assert sorted(f.fingerprint for f in again) == sorted(f.fingerprint for f in found)


def test_unsupported_constructs_are_named_never_silent(tmp_path):
    folder = _write(tmp_path / "rules", {k: v[0] for k, v in UNSUPPORTED.items()})
    _write(folder / "windows", {"proc.yml": """
        title: Not CloudTrail
        logsource: {product: windows, category: process_creation}
        detection:
            sel: {Image|endswith: '\\\\cmd.exe'}
            condition: sel
    """})
    rules = load_sigma(folder)
    assert rules.checks == []
    for name, (_, construct) in UNSUPPORTED.items():
        line = next((w for w in rules.warnings if name in w), None)
        assert line is not None, (name, rules.warnings)
        assert construct in line, line
    assert any("1 Sigma rule(s) of another logsource" in w for w in rules.warnings)


def test_cli_sigma_option_and_config(sigma_case, tmp_path):
    store, folder, expected = sigma_case
    case = str(store.case.path)
    res = runner.invoke(app, ["findings", "--case", case, "--sigma", str(folder),
                              "--rule", "SIGMA-5f0c1d2e-0000-4000-8000-000000000001",
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {f["rule_id"] for f in out["findings"]} == {"SIGMA-5f0c1d2e-0000-4000-8000-000000000001"}
    assert {e for f in out["findings"] for e in f["event_ids"]} == expected["iam_creations"]
    # the config names the folder (relative to the config file) and tunes a Sigma rule
    bad = _write(tmp_path / "cfg" / "sigma", {**RULES, "keyword.yml": UNSUPPORTED["keyword.yml"][0]})
    cfg = tmp_path / "cfg" / "graphtrail.toml"
    cfg.write_text('[sigma]\nrules = "sigma"\n[severity]\n'
                   '"SIGMA-5f0c1d2e-0000-4000-8000-000000000004" = "info"\n')
    res = runner.invoke(app, ["findings", "--case", case, "--config", str(cfg), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    low = [f for f in out["findings"] if f["rule_id"].endswith("0004")]
    assert low and {f["severity"] for f in low} == {"info"}
    assert any(str(bad / "keyword.yml") in w for w in out["warnings"])
    assert "keyword.yml" in res.stderr and "warning:" in res.stderr
    # --explain works on a Sigma finding
    fp = low[0]["fingerprint"]
    res = runner.invoke(app, ["findings", "--case", case, "--config", str(cfg), "--explain", fp])
    assert res.exit_code == 0 and "denied_user.yml" in res.stdout and low[0]["event_ids"][0] in res.stdout
    # a folder that does not exist is a usage error naming it
    res = runner.invoke(app, ["findings", "--case", case, "--sigma", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "nope" in res.stderr
