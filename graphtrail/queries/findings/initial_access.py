"""Initial access: the root user, and console sign-ins a password alone opened."""

from __future__ import annotations

from graphtrail.queries.findings._common import by, detail, each, is_ip, ok
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__: list[str] = []

# Sign-ins whose MFA is the identity provider's business (SAML, Identity Center, web identity).
_FEDERATED_TYPES = {"AssumedRole", "FederatedUser", "IdentityCenterUser", "WebIdentityUser",
                    "SAMLUser"}


@rule("GT-INIT-001", "Root user activity", "high", "Initial Access", "T1078.004",
      "Valid Accounts: Cloud Accounts")
def root_use(ctx: Context) -> list[Hit]:
    """Calls made as the account's root user (not by an AWS service on its behalf).

    Calls of an AssumeRoot task session are not root activity: the session is bounded by its
    task policy and rated by GT-PRIV-002.
    """
    df = ctx.calls(None, ["event_id", "time", "actor", "identity_type", "event_name", "source_ip",
                          "recipient_account_id", "error_code"])
    if df.empty:
        return []
    df = df[df["identity_type"] == "Root"]
    df = df[is_ip(df["source_ip"])]
    if df.empty:
        return []
    sess = ctx.store.session_info
    task = {a for a in df["actor"].dropna().unique() if (sess.get(a) or {}).get("via") == "AssumeRoot"}
    df = df[~df["actor"].isin(task)]
    return by(df, "recipient_account_id", lambda k, g: f"{len(g)} root calls in {k}")


@rule("GT-INIT-002", "Console sign-in without MFA", "medium", "Initial Access", "T1078.004",
      "Valid Accounts: Cloud Accounts")
def console_without_mfa(ctx: Context) -> list[Hit]:
    """A successful ConsoleLogin of an IAM user or root whose additionalEventData says
    MFAUsed: No. Federated sign-ins (SAML, Identity Center) are left out: their MFA happens at
    the identity provider and CloudTrail's MFAUsed says nothing about it."""
    df = ok(ctx.calls(["ConsoleLogin"]))
    if df.empty:
        return []

    def password_only(r) -> bool:
        d = detail(r["detail"])
        if r["identity_type"] in _FEDERATED_TYPES or d.get("SamlProviderArn") or d.get("CredentialType") == "SSO":
            return False
        return d.get("MFAUsed") == "No"

    return each(df[df.apply(password_only, axis=1)],
                lambda r: f"{said(r['identity_arn'])} signed in without MFA from {said(r['source_ip'])}")
