"""Tuning the catalogue without editing code: thresholds, severities, suppressions.

A ``graphtrail.toml`` (given with ``--config``, else found in the case folder, else in the
working directory) reads::

    [thresholds]
    secret_burst = 8            # any key of DEFAULT_THRESHOLDS

    [severity]
    GT-DISC-001 = "low"         # rule id -> critical, high, medium, low or info

    [organization]
    accounts = ["111122223333", "444455556666"]   # internal to the organization

    [[suppress]]
    rule = "GT-DISC-001"        # required
    principal = "arn:aws:iam::111122223333:user/ci"   # any of principal, role, account
    reason = "CI runner, reviewed in INC-42"           # required
    expires = "2026-12-31"                             # optional; ignored after that day

    [sigma]
    rules = "sigma-rules"       # a folder (or a list) of Sigma rules, relative to this file

A suppression matches a finding when every field it names matches: ``principal`` any
principal of the finding's lineages (origin or intermediate role), ``role`` a role name or
ARN in them, ``account`` one of its accounts. Suppressed findings are kept apart (shown with
``--suppressed``), never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_THRESHOLDS", "Config", "ConfigError", "Suppression", "load_config",
           "find_config", "CONFIG_NAME"]

CONFIG_NAME = "graphtrail.toml"
SEVERITY_NAMES = ("critical", "high", "medium", "low", "info")

DEFAULT_THRESHOLDS: dict[str, float] = {
    "burst_window_minutes": 10,   # what "a burst" means
    "secret_burst": 5,            # secrets or decrypted parameters read by one credential in a burst
    "enum_burst": 25,             # distinct List/Describe/Get calls by one credential in a burst
    "denied_burst": 10,           # AccessDenied-type errors by one credential in a burst
    "signin_failures": 5,         # failed console sign-ins for one user or address in a burst
    "baseline_warmup_hours": 6,   # "new" is only said after this much of the principal's history
    "object_reads": 500,          # GetObject calls by one lineage in an hour (no byte counts)
    "exfil_bytes": 1_000_000_000,  # bytes read by one lineage from one bucket in an hour
    "exfil_over_history": 3,      # ... and this many times the bucket's largest hour (other
                                  # lineages) and this lineage's largest hour before
}


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Suppression:
    rule: str
    reason: str
    principal: str | None = None
    role: str | None = None
    account: str | None = None
    expires: dt.date | None = None

    def active(self, today: dt.date) -> bool:
        return self.expires is None or today <= self.expires

    def matches(self, rule_id: str, principals: set[str], accounts: set[str]) -> bool:
        if self.rule != rule_id:
            return False
        if self.principal and self.principal not in principals:
            return False
        if self.role and not any(_is_role(p, self.role) for p in principals):
            return False
        return not (self.account and self.account not in accounts)


def _is_role(principal: str, role: str) -> bool:
    if principal == role:
        return True
    tail = principal.rsplit(":", 1)[-1]
    return tail.startswith(("role/", "assumed-role/")) and role in tail.split("/")[1:2]


@dataclass
class Config:
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    severities: dict[str, str] = field(default_factory=dict)
    suppressions: list[Suppression] = field(default_factory=list)
    org_accounts: set[str] = field(default_factory=set)
    sigma_rules: list[Path] = field(default_factory=list)
    source: str | None = None

    def t(self, name: str) -> float:
        """A threshold by name (KeyError for a name the catalogue does not know)."""
        return self.thresholds[name]


def find_config(explicit: str | Path | None, case_dir: str | Path | None) -> Path | None:
    """``explicit``, else ``graphtrail.toml`` in the case folder, else in the working directory."""
    if explicit:
        return Path(explicit)
    for folder in (case_dir, Path.cwd()):
        if folder and (Path(folder) / CONFIG_NAME).is_file():
            return Path(folder) / CONFIG_NAME
    return None


def load_config(path: str | Path | None, *, rule_ids: set[str] | None = None) -> Config:
    """Read a config file (None: the defaults). Unknown keys and bad values are errors."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror})") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from e
    unknown = set(raw) - {"thresholds", "severity", "suppress", "organization", "sigma"}
    if unknown:
        raise ConfigError(f"{p}: unknown section(s) {', '.join(sorted(unknown))}")
    cfg = Config(source=str(p))
    for k, v in (raw.get("thresholds") or {}).items():
        if k not in DEFAULT_THRESHOLDS:
            raise ConfigError(f"{p}: [thresholds] {k} is not a threshold "
                              f"(known: {', '.join(DEFAULT_THRESHOLDS)})")
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            raise ConfigError(f"{p}: [thresholds] {k} must be a positive number, got {v!r}")
        cfg.thresholds[k] = v
    for k, v in (raw.get("severity") or {}).items():
        if rule_ids is not None and k not in rule_ids:
            raise ConfigError(f"{p}: [severity] {k} is not a rule id")
        if v not in SEVERITY_NAMES:
            raise ConfigError(f"{p}: [severity] {k} = {v!r}: one of {', '.join(SEVERITY_NAMES)}")
        cfg.severities[k] = v
    accounts = (raw.get("organization") or {}).get("accounts") or []
    cfg.org_accounts = {str(a) for a in accounts}
    cfg.sigma_rules = _sigma_folders(p, raw.get("sigma") or {})
    for i, s in enumerate(raw.get("suppress") or [], 1):
        cfg.suppressions.append(_suppression(p, i, s, rule_ids))
    return cfg


def _sigma_folders(p: Path, section: dict) -> list[Path]:
    extra = set(section) - {"rules"}
    if extra:
        raise ConfigError(f"{p}: [sigma] unknown key(s) {', '.join(sorted(extra))}")
    rules = section.get("rules") or []
    rules = [rules] if isinstance(rules, str) else rules
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ConfigError(f"{p}: [sigma] rules must be a folder or a list of folders")
    return [p.parent / r for r in rules]


def _suppression(p: Path, i: int, s: dict, rule_ids: set[str] | None) -> Suppression:
    where = f"{p}: [[suppress]] #{i}"
    if not isinstance(s, dict):
        raise ConfigError(f"{where}: expected a table")
    extra = set(s) - {"rule", "reason", "principal", "role", "account", "expires"}
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
    if not s.get("rule") or not s.get("reason"):
        raise ConfigError(f"{where}: needs rule and reason")
    if rule_ids is not None and s["rule"] not in rule_ids:
        raise ConfigError(f"{where}: {s['rule']} is not a rule id")
    if not any(s.get(k) for k in ("principal", "role", "account")):
        raise ConfigError(f"{where}: name a principal, role or account (a whole rule is "
                          "turned off with [severity] or --rule instead)")
    expires = s.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError as e:
            raise ConfigError(f"{where}: expires {expires!r} is not a date (YYYY-MM-DD)") from e
    elif isinstance(expires, dt.datetime):
        expires = expires.date()
    elif expires is not None and not isinstance(expires, dt.date):
        raise ConfigError(f"{where}: expires must be a date")
    return Suppression(rule=s["rule"], reason=s["reason"], principal=s.get("principal"),
                       role=s.get("role"), account=str(s["account"]) if s.get("account") else None,
                       expires=expires)
