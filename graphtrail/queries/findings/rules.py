"""The detection catalogue: importing this module registers every rule.

One module a tactic; each rule is one function decorated with ``@rule``
(``grep -rn '@rule' graphtrail/queries/findings`` lists them). Thresholds are read from the
config (:mod:`graphtrail.queries.findings.config`), never typed in a rule.
"""

from __future__ import annotations

from graphtrail.queries.findings import (  # noqa: F401  (each import registers its rules)
    credential_access,
    defense_evasion,
    discovery,
    execution,
    exfiltration,
    impact,
    initial_access,
    insights,
    lateral_movement,
    network,
    persistence,
    privilege_escalation,
    workload,
)

__all__: list[str] = []
