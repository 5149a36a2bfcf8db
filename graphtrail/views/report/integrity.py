"""The report's integrity and coverage section: can the logs behind it be trusted, and
which hours were not logged at all (so that no event there means nothing was recorded)."""

from __future__ import annotations

from graphtrail.views.report.data import Report
from graphtrail.views.report.markup import Column, Row, cell, esc, iso_cell, plural, table

__all__ = ["integrity_section"]

_PROBLEM_WORDS = {"modified": "modified log files", "missing": "log files missing",
                  "not_in_any_digest": "log files no digest lists",
                  "digest_gaps": "gaps in the digest chain",
                  "bad_signatures": "digests with a bad signature",
                  "unsigned": "digests whose signature was not checked",
                  "unreadable": "unreadable files"}


def integrity_section(report: Report) -> str:
    """"N of M files verified against signed digests, K hours unlogged", the problems found
    by ``graphtrail verify --case`` and the unlogged hours."""
    facts = report.case.get("integrity") or {}
    stored = facts.get("stored") or {}
    parts = ['<section class="rp-section" id="integrity">',
             f'<h2>Integrity and coverage<span class="rp-count">{esc(facts.get("line", ""))}'
             "</span></h2>"]
    if not stored:
        parts.append('<p class="rp-lead">The source files of this case were not checked against '
                     "CloudTrail's signed digest files. Run <code>graphtrail verify --case "
                     "DIR</code> to check them and to learn which hours were not logged.</p>"
                     "</section>")
        return "".join(parts)
    problems = stored.get("problems") or {}
    found = [f"{len(problems[k]):,} {words}" for k, words in _PROBLEM_WORDS.items()
             if problems.get(k)]
    verdict = ("Every log file checked matches a digest whose signature verifies."
               if stored.get("valid") else "Not everything verified: " + "; ".join(found) + ".")
    parts.append(f'<p class="rp-lead">Checked at {esc(stored.get("verified_at", ""))}: '
                 f"{esc(verdict)} The Evidence section says for each source file whether it "
                 "was verified.</p>")
    unlogged = stored.get("unlogged") or []
    if unlogged:
        rows = [Row([cell(u.get("account", ""), cls="rp-mono"), cell(u.get("region", "")),
                     iso_cell(u.get("from")), iso_cell(u.get("to")),
                     cell(u.get("hours", ""), sort=u.get("hours", 0), cls="rp-num")])
                for u in unlogged]
        parts.append(f"<h3>Hours with nothing delivered ({esc(plural(len(rows), 'window'))})</h3>")
        parts.append(table([Column("Account"), Column("Region"), Column("From"), Column("To"),
                            Column("Hours", numeric=True)], rows, label="Unlogged hours"))
    gaps = problems.get("digest_gaps") or []
    if gaps:
        rows = [Row([cell(g.get("account", ""), cls="rp-mono"), cell(g.get("region", "")),
                     iso_cell(g.get("from")), iso_cell(g.get("to")),
                     cell(g.get("missing_digests") or "", cls="rp-num")]) for g in gaps]
        parts.append("<h3>Digest files missing</h3>")
        parts.append(table([Column("Account"), Column("Region"), Column("From"), Column("To"),
                            Column("Digests", numeric=True)], rows, label="Digest gaps"))
    parts.append("</section>")
    return "".join(parts)
