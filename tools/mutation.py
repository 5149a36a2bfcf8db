"""Mutation testing of the linking core: do the tests fail when an answer goes wrong?

    python tools/mutation.py            # mutmut over the core ([tool.mutmut]), then the score
    python tools/mutation.py --summary  # the score and the survivors of the last mutmut run
    python tools/mutation.py --confirm 150  # rerun a random sample of survivors on every selected test
    python tools/mutation.py --issue    # the realistic mutants of issue 18, each with its killer

mutmut 3 mutates code inside functions only; the ``--issue`` list also holds mutants of
module constants (the STS issuing calls, the clock-skew slack) and names, for each mutant,
the test that must fail. Each is applied to a copy of the project in a temporary folder
(the worktree is never touched) and only its named tests run. CPU heavy: runs under
``nice``; not part of CI. See README, "Mutation testing".
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CRED, BLAST, CHAINS = ("loaders/facts/credentials.py", "graphtrail/queries/blast_radius.py",
                       "graphtrail/queries/chains.py")
FAMILIES = "graphtrail/families.py"  # the event families: the STS issuing calls live here
LINK, FILT = "tests/test_linking_cases.py", "tests/test_chain_filters.py"

# (what goes wrong, file, original text, mutated text, the tests that must fail)
ISSUE_MUTANTS = [
    ("AssumeRoleWithWebIdentity dropped from the STS issuing calls", FAMILIES,
     '"AssumeRoleWithSAML", "AssumeRoleWithWebIdentity")', '"AssumeRoleWithSAML")',
     [f"{LINK}::test_web_identity_github_oidc_chain"]),
    ("the role owner's AWSAccount copy may be the issuer", CRED,
     "if a is not None and k != NodeKind.ACCOUNT.value]", "if a is not None]",
     [f"{LINK}::test_issuer_is_the_callers_copy_not_the_role_owners_account"]),
    ("creation-date match without abs()", CRED,
     "(created is None or abs(s.issued - created) <= CREATION_SLACK)]",
     "(created is None or (s.issued - created) <= CREATION_SLACK)]",
     [f"{LINK}::test_recycled_key_whose_second_issue_is_missing",
      f"{LINK}::test_creation_date_must_be_the_issue_time_even_inside_its_validity",
      f"{LINK}::test_recycled_key_used_after_its_second_issue_expired"]),
    ("expiry ignored when one issue covers the calls", CRED,
     "if s.issued - VALIDITY_SLACK <= tmin and tmax <= s.expires + VALIDITY_SLACK]",
     "if s.issued - VALIDITY_SLACK <= tmin]",
     [f"{LINK}::test_recycled_key_without_creation_date_outlives_its_first_issue"]),
    ("expiry ignored call by call", CRED,
     "hit = [s for s in cands if s.issued - VALIDITY_SLACK <= t <= s.expires + VALIDITY_SLACK]",
     "hit = [s for s in cands if s.issued - VALIDITY_SLACK <= t]",
     [f"{LINK}::test_recycled_key_without_creation_date_outlives_its_first_issue"]),
    ("no clock-skew slack", CRED, "VALIDITY_SLACK = 300 * _SECOND", "VALIDITY_SLACK = 0",
     [f"{LINK}::test_clock_skew_at_the_validity_edges"]),
    ("response expiration ignored", CRED, "expires = exp if exp is not None else t + ttl",
     "expires = t + ttl", [f"{LINK}::test_response_expiration_longer_than_the_default"]),
    ("ambiguous principalId resolved to the first live session", CRED,
     "if len(live) == 1:", "if live:",
     [f"{LINK}::test_two_live_sessions_sharing_a_principal_id_are_not_guessed"]),
    ("farthest instead of closest console sign-in", CRED,
     "abs(s.issued - t) < abs(s.issued - best[0])", "abs(s.issued - t) > abs(s.issued - best[0])",
     [f"{LINK}::test_console_session_is_tied_to_the_latest_sign_in_before_it",
      f"{LINK}::test_two_sign_ins_within_two_minutes_each_open_their_own_console_session"]),
    ("--until no longer cuts derived credentials", BLAST,
     "if until is not None and t is not None and t > until:\n            return",
     "if False:\n            return",
     [f"{LINK}::test_until_cuts_credentials_derived_after_it"]),
    ("sessions active in the window but issued before --since dropped", BLAST,
     "    if sid in active:\n        return True\n", "",
     [f"{LINK}::test_session_issued_before_since_but_active_in_window_counts"]),
    ("recipient_account_id ignored in accounts", BLAST,
     'for col in ("recipient_account_id", "account_id"):', 'for col in ("account_id",):',
     [f"{LINK}::test_recipient_account_counts_among_accounts"]),
    ("the seed's opening call (issued_by) left out of its eventIDs", BLAST,
     'for item in issued_by:\n        event_ids.update', 'for item in ():\n        event_ids.update',
     [f"{LINK}::test_seed_sessions_own_sts_call_is_not_its_doing"]),
    ("UpdateLoginProfile not followed", BLAST,
     'if d.get("change") == "UpdateLoginProfile":', "if False:",
     [f"{LINK}::test_login_profile_changes_reach_only_later_console_sessions"]),
    ("console sessions from before a password change kept", BLAST,
     '(t is None or s["issued"] >= t)', "True",
     [f"{LINK}::test_login_profile_changes_reach_only_later_console_sessions"]),
    ("cross-account no longer needs the origin's account", CHAINS,
     'any(h["from_account"] and h["to_account"] and', 'any(h["to_account"] and',
     [f"{FILT}::test_cross_account_needs_two_known_accounts",
      f"{LINK}::test_web_identity_github_oidc_chain"]),
    ("min_hops off by one", CHAINS, "if len(chain.hops) < self.min_hops",
     "if len(chain.hops) <= self.min_hops", [f"{FILT}::test_min_hops"]),
    ("--to keeps one hop too many", CHAINS, "hops=chain.hops[:cut],", "hops=chain.hops[:cut + 1],",
     [f"{FILT}::test_to_cuts_the_chain_at_the_role"]),
    ("--since: all hops -> any hop", CHAINS, 'all(h["time_us"] < self.since', 'any(h["time_us"] < self.since',
     [f"{FILT}::test_since_keeps_chains_with_a_hop_at_or_after_it"]),
    ("--until on the last hop", CHAINS, 'chain.hops[0]["time_us"] > self.until',
     'chain.hops[-1]["time_us"] > self.until',
     [f"{FILT}::test_until_keeps_chains_whose_first_hop_is_before_it"]),
    ("--from matches any hop", CHAINS, "for h in chain.hops[:1])", "for h in chain.hops)",
     [f"{FILT}::test_from_matches_the_first_hop_only"]),
    ("shortest chains first", CHAINS, "out.sort(key=lambda c: (-len(c.hops),",
     "out.sort(key=lambda c: (len(c.hops),",
     [f"{FILT}::test_every_chain_longest_first_then_by_time"]),
]

_COPY = ("graphtrail", "loaders", "cypher", "tests", "pyproject.toml")


def _copy_project(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "golden")
    for name in _COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)


def _pytest(cwd: Path, tests: list[str]) -> int:
    cmd = ["nice", "-n", "10", str(BIN / "python"), "-m", "pytest", "-q", "-x",
           "-p", "no:cacheprovider", *tests]
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # the copy wins over the editable install
    return subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode


def run_issue_mutants() -> int:
    """Apply each issue mutant to a fresh copy; its named tests must fail. 0 when all are killed."""
    survived = []
    with tempfile.TemporaryDirectory(prefix="graphtrail-mutation-") as tmp:
        base = Path(tmp) / "project"
        _copy_project(base)
        tests = sorted({t for *_, ts in ISSUE_MUTANTS for t in ts})
        if _pytest(base, tests) != 0:
            print("the named tests fail on the unmutated code: fix them first")
            return 2
        for what, path, old, new, killers in ISSUE_MUTANTS:
            target = base / path
            original = target.read_text()
            if original.count(old) != 1:
                print(f"?? {what}: the text to mutate is not in {path} once (the core changed)")
                survived.append(what)
                continue
            target.write_text(original.replace(old, new))
            try:
                killed = _pytest(base, killers) != 0
            finally:
                target.write_text(original)
            print(f"{'killed  ' if killed else 'SURVIVED'} {what}  <- "
                  f"{', '.join(k.split('::')[1] for k in killers)}", flush=True)
            if not killed:
                survived.append(what)
    print(f"\n{len(ISSUE_MUTANTS) - len(survived)}/{len(ISSUE_MUTANTS)} issue mutants killed")
    return 1 if survived else 0


def _results() -> dict[str, str]:
    out = subprocess.run([str(BIN / "mutmut"), "results", "--all", "true"], cwd=ROOT,
                         capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        name, _, result = line.strip().rpartition(": ")
        if name:
            found[name] = result
    return found


def recheck_survivors(jobs: int) -> None:
    """Run the survivors (and the mutants no test reached) again, by name, a few at a time.

    In a long ``mutmut run`` here, whole functions' mutants were reported as survivors that
    the same tests kill when the mutant is run by name: a survivor counts only once
    confirmed this way. A rerun by name also picks up tests written since the first run
    (mutmut maps new tests to the functions they call), which a plain ``mutmut run`` does
    not do for mutants that already have a result.
    """
    survivors = [n for n, r in _results().items() if r in ("survived", "no tests")]
    for i in range(0, len(survivors), 20):
        subprocess.run(["nice", "-n", "10", str(BIN / "mutmut"), "run", "--max-children",
                        str(jobs), *survivors[i:i + 20]], cwd=ROOT, check=False,
                       stdout=subprocess.DEVNULL)


def _selection() -> list[str]:
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(conf["pytest_add_cli_args_test_selection"])


def _killed_directly(name: str) -> bool:
    """Run every test of the selection against one mutant in ``mutants/`` (mutmut's copy),
    stopping at the first failure: True when a test fails (or the run hangs)."""
    env = {**os.environ, "MUTANT_UNDER_TEST": name}
    cmd = [str(BIN / "python"), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           "-p", "no:randomly", *_selection()]
    try:
        return subprocess.run(cmd, cwd=ROOT / "mutants", env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=600).returncode != 0
    except subprocess.TimeoutExpired:
        return True


def confirm_survivors(sample: int, jobs: int, seed: int = 0) -> int:
    """Rerun a random sample of mutmut's survivors (and mutants it found no test for) on the
    whole test selection, not on the tests mutmut mapped to the function.

    Here mutmut 3 maps too few tests to some functions (a ``_created_and_changed`` mutant
    reported as surviving fails two tests of the selection when run directly), so its
    survivors are an upper bound. The sample's killed share corrects the score: printed as
    an estimate with the sample's size. ``sample`` 0 reruns every survivor (hours).
    """
    import random
    from concurrent.futures import ThreadPoolExecutor

    found = _results()
    survivors = sorted(n for n, r in found.items() if r in ("survived", "no tests"))
    picked = survivors if not sample or sample >= len(survivors) else sorted(
        random.Random(seed).sample(survivors, sample))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        verdicts = list(pool.map(_killed_directly, picked))
    still = [n for n, k in zip(picked, verdicts, strict=True) if not k]
    for name in still:
        print("survives every selected test:", name)
    killed = sum(found[n] in ("killed", "timeout") for n in found)
    share = len(still) / len(picked) if picked else 0.0
    tested = killed + len(survivors)
    est_survivors = share * len(survivors)
    print(f"mutmut: {killed} killed, {len(survivors)} survived or untested, of {tested}")
    print(f"rerun on every selected test: {len(picked) - len(still)} of {len(picked)} sampled "
          f"survivors killed, {len(still)} survive")
    if tested:
        print(f"estimated score: {100 * (tested - est_survivors) / tested:.1f}% of {tested} "
              f"mutants killed (about {est_survivors:.0f} survivors, before equivalents are "
              "taken out)")
    return 0


def summary() -> int:
    """Score of the last ``mutmut run``: killed / (killed + survived), non-equivalent reviewed by hand."""
    found = _results()
    status = Counter(found.values())
    survivors = [n for n, r in found.items() if r == "survived"]
    for name in survivors:
        print("survived", name)
    for k, v in sorted(status.items()):
        print(f"{k:>12}: {v}")
    tested = status["killed"] + status["survived"] + status["timeout"]
    if tested:
        score = 100 * (status["killed"] + status["timeout"]) / tested
        print(f"score: {score:.1f}% of {tested} tested mutants killed "
              f"(`mutmut show <name>` shows one; `mutmut browse` reviews them)")
    if status["not checked"]:
        print(f"{status['not checked']} mutants not run yet: `python tools/mutation.py` resumes "
              "where the last run stopped")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--issue", action="store_true", help="only the named mutants of issue 18")
    ap.add_argument("--summary", action="store_true", help="only score the last mutmut run")
    ap.add_argument("--jobs", type=int, default=2, help="mutmut's parallel children")
    ap.add_argument("--confirm", type=int, default=None, metavar="N",
                    help="rerun N sampled survivors on every selected test (0: all)")
    args = ap.parse_args()
    if args.issue:
        return run_issue_mutants()
    if args.confirm is not None:
        return confirm_survivors(args.confirm, args.jobs)
    if not args.summary:
        subprocess.run(["nice", "-n", "10", str(BIN / "mutmut"), "run", "--max-children",
                        str(args.jobs)], cwd=ROOT, check=False)
        recheck_survivors(args.jobs)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
