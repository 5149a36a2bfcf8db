"""Community rules: Sigma rules for CloudTrail, read with pySigma from a folder.

``graphtrail findings --sigma DIR`` (or ``[sigma] rules = "DIR"`` in the config) reads every
``*.yml``/``*.yaml`` below ``DIR`` with pySigma's :class:`~sigma.collection.SigmaCollection`;
rules of the ``aws``/``cloudtrail`` logsource run over the case's events
(:mod:`graphtrail.queries.findings.sigma_eval`) and each hit becomes a finding like the
catalogue's: rule id ``SIGMA-<id>``, the rule's title, its level as severity, its ATT&CK tags,
the lineage of the credentials that made the calls, a fingerprint, every eventID.

A rule this cannot run (a keyword search, a field a case does not keep, ``|fieldref``,
``|expand`` placeholders, an aggregation or correlation, YAML pySigma rejects) is never
skipped silently: :attr:`SigmaRules.warnings` names the file and the construct.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionOR
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from graphtrail.queries.findings.sigma_eval import Unsupported, check
from graphtrail.queries.findings.sigma_fields import Field

__all__ = ["SigmaCheck", "SigmaRules", "load_sigma", "LEVELS"]

# Sigma level -> graphtrail severity (a rule without a level is medium)
LEVELS = {"informational": "info", "low": "low", "medium": "medium", "high": "high",
          "critical": "critical"}


@dataclass
class SigmaCheck:
    """One runnable Sigma rule: its parsed condition tree and what a finding says of it."""

    id: str  # SIGMA-<the rule's id>
    title: str
    severity: str
    tactic: str
    technique: str
    file: str
    description: str
    tree: object = field(repr=False)
    fields: set[Field] = field(default_factory=set, repr=False)


@dataclass
class SigmaRules:
    """The rules of a folder: those that run, and a warning for each that cannot."""

    folders: list[str] = field(default_factory=list)
    checks: list[SigmaCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    other_logsources: int = 0  # rules of another product or service, not CloudTrail's

    @property
    def ids(self) -> set[str]:
        return {c.id for c in self.checks}


def load_sigma(folders: list[str | Path] | str | Path) -> SigmaRules:
    """Read every Sigma rule file below ``folders``; never raises for a bad rule.

    Raises ``OSError`` (``FileNotFoundError``) when a folder does not exist.
    """
    if isinstance(folders, str | Path):
        folders = [folders]
    out = SigmaRules(folders=[str(f) for f in folders])
    for folder in map(Path, folders):
        if not folder.exists():
            raise FileNotFoundError(2, "No such file or directory", str(folder))
        files = [folder] if folder.is_file() else sorted(
            p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
        for path in files:
            _read_file(path, out)
    if out.other_logsources:
        out.warnings.append(f"{out.other_logsources} Sigma rule(s) of another logsource than "
                            "aws/cloudtrail not run")
    return out


def _read_file(path: Path, out: SigmaRules) -> None:
    try:
        text = path.read_text(encoding="utf-8")
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
    except (OSError, UnicodeDecodeError, SigmaError, ValueError, yaml.YAMLError) as e:
        out.warnings.append(f"{path}: not read as Sigma ({_one_line(e)})")
        return
    except Exception as e:  # pySigma raises other types on odd YAML; one file costs only itself
        out.warnings.append(f"{path}: not read as Sigma ({type(e).__name__}: {_one_line(e)})")
        return
    for err in getattr(collection, "errors", []) or []:
        out.warnings.append(f"{path}: not a valid Sigma rule ({_one_line(err)})")
    for item in collection.rules:
        if not isinstance(item, SigmaRule):
            out.warnings.append(f"{path}: {type(item).__name__} {_title(item)!r} not supported "
                                "(correlation and filter rules are not run)")
            continue
        if item.errors:
            for err in item.errors:
                out.warnings.append(f"{path}: rule {_title(item)!r} not run ({_one_line(err)})")
            continue
        if not _is_cloudtrail(item):
            out.other_logsources += 1
            continue
        _add_rule(path, item, out)


def _add_rule(path: Path, rule: SigmaRule, out: SigmaRules) -> None:
    where = f"{path}: rule {_title(rule)!r}"
    try:
        trees = [c.parse() for c in rule.detection.parsed_condition]
    except SigmaError as e:
        out.warnings.append(f"{where} not run: condition {_one_line(e)}")
        return
    except Exception as e:  # pySigma's parser failing otherwise: the rule costs only itself
        out.warnings.append(f"{where} not run: condition not parsed ({type(e).__name__}: "
                            f"{_one_line(e)})")
        return
    tree = trees[0] if len(trees) == 1 else ConditionOR(trees)
    try:
        fields = check(tree)
    except Unsupported as e:
        out.warnings.append(f"{where} not run: {e} is not supported")
        return
    rid = f"SIGMA-{rule.id}" if rule.id else f"SIGMA-{path.stem}"
    if rid in out.ids:
        out.warnings.append(f"{where} not run: id {rid} already read from another file")
        return
    tactic, technique = _attack(rule)
    level = rule.level.name.lower() if rule.level else "medium"
    out.checks.append(SigmaCheck(
        id=rid, title=rule.title or path.stem, severity=LEVELS.get(level, "medium"),
        tactic=tactic, technique=technique, file=str(path),
        description=" ".join((rule.description or "").split()), tree=tree, fields=fields))


def _is_cloudtrail(rule: SigmaRule) -> bool:
    ls = rule.logsource
    return (ls.product or "").lower() == "aws" and (ls.service or "").lower() == "cloudtrail"


def _attack(rule: SigmaRule) -> tuple[str, str]:
    """(tactic, technique) from the ``attack.*`` tags: ``Persistence``, ``T1098.001``."""
    tactics, techniques = [], []
    for tag in rule.tags or []:
        if str(tag.namespace).lower() != "attack":
            continue
        name = str(tag.name)
        if name[:1].lower() == "t" and name[1:2].isdigit():
            techniques.append(name.upper())
        elif not (name[:1].lower() in "gs" and name[1:2].isdigit()):  # groups, software
            tactics.append(name.replace("-", " ").replace("_", " ").title())
    return (tactics[0] if tactics else "Sigma"), (techniques[0] if techniques else "")


def _title(item) -> str:
    return getattr(item, "title", None) or "untitled"


def _one_line(e) -> str:
    return " ".join(str(e).split())
