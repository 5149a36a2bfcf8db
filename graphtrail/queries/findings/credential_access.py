"""Credential access: secrets, instance passwords, guessed console passwords."""

from __future__ import annotations

from graphtrail.queries.findings._common import DENIED, MINUTE, bursts, detail, each, ok, per_value
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__: list[str] = []

SECRET_CALLS = ["GetSecretValue", "BatchGetSecretValue", "GetParameter", "GetParameters",
                "GetParametersByPath"]


def secret_reads(ctx: Context):
    """Successful reads of a secret value: Secrets Manager, or SSM parameters read *with
    decryption* (only SecureString parameters need it; a plain GetParameter is configuration)."""
    df = ok(ctx.calls(SECRET_CALLS))
    if df.empty:
        return df
    ssm = df["event_source"] == "ssm.amazonaws.com"
    # once per distinct request (tens of them under the reads of a million calls)
    decrypt = per_value(df["detail"], lambda d: detail(d).get("withDecryption") in (True, "true", "True")
                        ).astype(bool)  # a missing request (None) asked for no decryption
    return df[~ssm | decrypt]


@rule("GT-CRED-001", "Secrets read in a burst", "high", "Credential Access", "T1555.006",
      "Credentials from Password Stores: Cloud Secrets Management Stores")
def secrets_burst(ctx: Context) -> list[Hit]:
    """Many *different* Secrets Manager values or SSM SecureString parameters read by one
    credential in a few minutes: harvesting. Reading the same few secrets again is an
    application (or a person) doing its work; a batch call counts for each secret it names."""
    window, n = ctx.t("burst_window_minutes"), int(ctx.t("secret_burst"))
    df = secret_reads(ctx)
    named = per_value(df["detail"], _named)
    df = df.assign(secret=[e if n is None else n for n, e in zip(named, df["event_id"], strict=True)])
    return bursts(df, "actor", int(window * MINUTE), n, distinct="secret",
                  summary=lambda k, g: f"{g['secret'].nunique()} different secrets read by {k}",
                  why={"distinct_secrets_threshold": n, "window_minutes": window})


def _named(d) -> str | None:
    """What one read names: a secret id or a parameter name; None when the request says
    nothing more precise (a batch or a filter: the call itself then counts as one)."""
    p = detail(d)
    one = p.get("secretId") or p.get("name")
    if isinstance(one, str):
        return one
    many = p.get("secretIdList") or p.get("names")
    if isinstance(many, list) and many:
        return "|".join(sorted(map(str, many)))
    return None


@rule("GT-CRED-002", "Windows password data retrieved", "high", "Credential Access", "T1552",
      "Unsecured Credentials")
def password_data(ctx: Context) -> list[Hit]:
    """GetPasswordData returns an instance's encrypted administrator password; repeated denied
    attempts (medium) are someone trying instance after instance."""
    df = ctx.calls(["GetPasswordData"])
    hits = each(ok(df), lambda r: f"GetPasswordData {said(r['resource'])}")
    denied = df[df["error_code"].isin(DENIED)]
    for actor, g in denied.groupby("actor", sort=False):
        hits.append(Hit(g, f"{len(g)} denied GetPasswordData by {actor}", severity="medium",
                        key=("denied", str(actor))))
    return hits


@rule("GT-INIT-003", "Failed console sign-in burst", "medium", "Credential Access", "T1110",
      "Brute Force")
def signin_failures(ctx: Context) -> list[Hit]:
    """Several failed ConsoleLogin for one user (or from one address) in a few minutes."""
    df = ctx.calls(["ConsoleLogin"])
    df = df[df["error_code"].notna()]
    df = df.assign(who=df["identity_arn"].fillna(df["source_ip"]))
    window, n = ctx.t("burst_window_minutes"), int(ctx.t("signin_failures"))
    return bursts(df, "who", int(window * MINUTE), n,
                  summary=lambda k, g: f"{len(g)} failed sign-ins for {k}",
                  why={"threshold": n, "window_minutes": window})
