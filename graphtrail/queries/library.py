"""The query library: every question graphtrail answers, and where each can run.

A question has an id, what it answers, and its implementations:

* ``embedded``: always; the Python over networkx and Arrow in :mod:`graphtrail.queries`;
* ``cypher``: the file ``cypher/<file>.cypher`` that ``--backend neo4j`` sends to the server
  as written (:mod:`graphtrail.queries.on_server` runs it and shapes its rows), or ``None``
  with the reason in ``embedded_only``: then ``--backend neo4j`` refuses the question
  (``error:`` and exit status 2: a usage error, the question exists but not on that backend).

``tests/test_parity.py`` runs both implementations of every question that has Cypher on the
same cases and asserts equal answers.

>>> QUESTIONS["blast_radius"].cypher
'blast_radius'
>>> server_side("finding:GT-DISC-002")
Traceback (most recent call last):
...
graphtrail.queries.library.EmbeddedOnly: finding GT-DISC-002 (Enumeration burst) has no Cypher: ...
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Question", "QUESTIONS", "EmbeddedOnly", "server_side", "finding_question",
           "BLAST_RADIUS_ON_SERVER", "BLAST_RADIUS_EMBEDDED_ONLY"]


@dataclass(frozen=True)
class Question:
    id: str
    answers: str
    cypher: str | None = None  # cypher/<cypher>.cypher, sent as written
    embedded_only: str | None = None  # why there is no Cypher

    def __post_init__(self) -> None:
        if (self.cypher is None) == (self.embedded_only is None):
            raise ValueError(f"question {self.id}: give either its Cypher file or why it has none")


class EmbeddedOnly(ValueError):
    """``--backend neo4j`` was asked a question that has no Cypher."""


# What the server computes of a blast radius (``cypher/blast_radius.cypher``), and what only
# the embedded store answers (each needs a walk of its own per created thing: used_later).
BLAST_RADIUS_ON_SERVER = ("seed", "since", "until", "event_ids", "access_keys", "sessions", "roles",
                          "attempted_roles", "accounts", "ips", "resources", "principals",
                          "first_seen", "last_seen", "calls", "failed_calls", "issued_by", "events",
                          "console_sessions", "excluded")
BLAST_RADIUS_EMBEDDED_ONLY = ("created", "policy_changes", "key_changes", "lineage")

_QUESTIONS = [
    Question("blast_radius", "Everything an access key did and every credential derived from it "
             "(sessions at any depth, keys and users created, console sessions after a password "
             "change), in a time window, with the calls that opened them", cypher="blast_radius"),
    Question("blast_radius:created", "Keys, users, profiles and policies created and permission or "
             "trust changes, with whether each was used later",
             embedded_only="used_later walks a different path for each kind of thing created"),
    Question("timeline", "Every call of an access key (with --lineage: and of every credential "
             "derived from it), in time order", cypher="timeline"),
    Question("chains", "Role chains walked by real sessions, filtered by --cross-account, --from, "
             "--to, --min-hops, --since, --until", cypher="chains"),
    Question("seeds", "Keys, principals, roles, addresses and accounts with first and last seen, "
             "calls and errors (the calls grouped on the server)", cypher="call_summary"),
    Question("lineage_path", "For each credential, the origin principal and each credential down "
             "to it (the lineage a finding shows)", cypher="lineage_path"),
    Question("integrity", "What the digest files prove about the logs",
             embedded_only="reads the case's files (digests, signatures), not the graph"),
    Question("coverage", "Which accounts, regions and hours the logs cover",
             embedded_only="reads the case's manifest and events, not the graph"),
]
QUESTIONS: dict[str, Question] = {q.id: q for q in _QUESTIONS}

# Findings rules written in Cypher: rule id -> cypher/<file>.cypher. Every other rule of the
# catalogue is embedded-only: it needs request parameters parsed from JSON, baselines, bursts
# in sliding windows, AWS's address ranges or the organization's accounts.
FINDINGS_IN_CYPHER = {
    "GT-DEF-001": "finding_trail_stopped",
    "GT-DEF-004": "finding_left_organization",
    "GT-INIT-001": "finding_root_activity",
}


def finding_question(rule_id: str) -> Question:
    """The library entry of one findings rule (``finding:<rule id>``)."""
    from graphtrail.queries.findings import RULES
    from graphtrail.queries.findings import rules as _rules  # noqa: F401  (registers the catalogue)

    r = RULES[rule_id]
    if rule_id in FINDINGS_IN_CYPHER:
        return Question(f"finding:{rule_id}", r.title, cypher=FINDINGS_IN_CYPHER[rule_id])
    return Question(f"finding:{rule_id}", r.title, embedded_only=(
        "reads request parameters, baselines, bursts, address ranges or the organization"))


def question(qid: str) -> Question:
    if qid.startswith("finding:"):
        return finding_question(qid.split(":", 1)[1])
    return QUESTIONS[qid]


def server_side(qid: str) -> Question:
    """The question, when it has Cypher; :class:`EmbeddedOnly` (a clear message) otherwise."""
    q = question(qid)
    if q.cypher is None:
        name = f"finding {qid.split(':', 1)[1]} ({q.answers})" if qid.startswith("finding:") else qid
        raise EmbeddedOnly(f"{name} has no Cypher: it runs on the embedded store only "
                           f"({q.embedded_only}); use --backend embedded")
    return q
