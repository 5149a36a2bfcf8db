"""Persistence: second ways in (keys, passwords, users, trusts, functions, trust anchors)."""

from __future__ import annotations

from graphtrail.families import KEY_CREATION, LOGIN_PROFILE, TRUST_CHANGE
from graphtrail.policy import trusted_accounts
from graphtrail.queries.findings._common import detail, each, for_another_user, ok
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__: list[str] = []


@rule("GT-PERS-001", "Access key created for another user", "high", "Persistence",
      "T1098.001", "Account Manipulation: Additional Cloud Credentials")
def access_key_for_other_user(ctx: Context) -> list[Hit]:
    """CreateAccessKey naming a user other than the caller: a second way in."""
    return each(for_another_user(ctx, list(KEY_CREATION)),
                lambda r: f"key created for {said(detail(r['detail']).get('userName'))} by {said(r['actor'])}")


@rule("GT-PERS-002", "Console password set for another user", "high", "Persistence",
      "T1098", "Account Manipulation")
def login_profile_for_other_user(ctx: Context) -> list[Hit]:
    """CreateLoginProfile / UpdateLoginProfile on someone else's user."""
    return each(for_another_user(ctx, list(LOGIN_PROFILE)),
                lambda r: f"{said(r['event_name'])} for {said(detail(r['detail']).get('userName'))}")


@rule("GT-PERS-003", "IAM user created", "medium", "Persistence", "T1136.003",
      "Create Account: Cloud Account")
def user_created(ctx: Context) -> list[Hit]:
    """CreateUser: new identities are a classic foothold."""
    df = ok(ctx.calls(["CreateUser"]))
    return each(df, lambda r: f"user {said(detail(r['detail']).get('userName'))} created by {said(r['actor'])}")


@rule("GT-PERS-006", "Role trust opened to another account", "critical", "Persistence",
      "T1098.003", "Account Manipulation: Additional Cloud Roles")
def trust_opened(ctx: Context) -> list[Hit]:
    """UpdateAssumeRolePolicy or CreateRole trusting an account other than the role's own (or *).

    An account of the organization is internal: trusting it is a change (medium), not an
    exposure. Trust to an outside account (or ``*``) is critical.
    """
    df = ok(ctx.calls([*TRUST_CHANGE, "CreateRole"]))
    hits = []
    for i, r in df.iterrows():
        d = detail(r["detail"])
        doc = d.get("policyDocument") or d.get("assumeRolePolicyDocument")
        own = r["recipient_account_id"]
        other = [a for a in trusted_accounts(doc) if a != own]
        if not other:
            continue
        outside = [a for a in other if not ctx.internal(a)]
        role = said(d.get("roleName") or r["resource"])
        why = {"trusted": other, "outside_organization": outside,
               "organization_accounts_known": len(ctx.org_accounts)}
        if outside:
            hits.append(Hit(df.loc[[i]], f"role {role} now trusts {', '.join(outside)} "
                            "(outside the organization)", key=(role, *outside), why=why))
        else:
            hits.append(Hit(df.loc[[i]], f"role {role} now trusts {', '.join(other)} "
                            "(accounts of the organization)", severity="medium",
                            key=(role, *other), why=why))
    return hits


@rule("GT-PERS-007", "Federation token with broad permissions", "high", "Persistence",
      "T1550.001", "Use Alternate Authentication Material: Application Access Token")
def federation_token(ctx: Context) -> list[Hit]:
    """GetFederationToken by an IAM user: a session that outlives a key rotation (up to 36 h).

    Survives the deletion of the key that made it; a policy allowing ``*`` makes it critical.
    """
    df = ok(ctx.calls(["GetFederationToken"]))
    hits = []
    for i, r in df.iterrows():
        d = detail(r["detail"])
        pol = d.get("policy") or ""
        broad = '"*"' in pol.replace(" ", "") and "Action" in pol
        hits.append(Hit(df.loc[[i]], f"federation token {said(d.get('name'))} for {said(r['identity_arn'])}",
                        severity="critical" if broad else None, key=(str(d.get("name")),),
                        why={"policy_allows_everything": broad}))
    return hits


@rule("GT-PERS-008", "Lambda function opened or backdoored", "high", "Persistence",
      "T1546", "Event Triggered Execution")
def lambda_backdoor(ctx: Context) -> list[Hit]:
    """Lambda resource policy granted to ``*`` or another account, a public function URL,
    a layer added, or function code replaced."""
    names = ["AddPermission20150331v2", "AddPermission", "CreateFunctionUrlConfig20211031",
             "UpdateFunctionUrlConfig20211031", "UpdateFunctionConfiguration20150331v2",
             "UpdateFunctionCode20150331v2", "UpdateFunctionCode", "UpdateFunctionConfiguration",
             "PublishLayerVersion20181031"]
    df = ok(ctx.calls(names))
    hits = []
    for i, r in df.iterrows():
        d = detail(r["detail"])
        fn = said(d.get("functionName") or d.get("layerName") or r["resource"])
        name = r["event_name"]
        what = None
        if name.startswith("AddPermission"):
            who = str(d.get("principal") or "")
            if who == "*" or (who.isdigit() and who != r["recipient_account_id"]
                              and not ctx.internal(who)):
                what = f"invoke permission on {fn} granted to {who}"
        elif name.startswith(("CreateFunctionUrlConfig", "UpdateFunctionUrlConfig")):
            if str(d.get("authType")) == "NONE":
                what = f"public function URL (no auth) on {fn}"
        elif name.startswith("UpdateFunctionConfiguration"):
            if d.get("layers"):
                what = f"layers set on {fn}: {', '.join(map(str, d['layers']))}"
        elif name.startswith("UpdateFunctionCode"):
            what = f"code of {fn} replaced"
        if what:
            sev = "medium" if name.startswith("UpdateFunctionCode") else None
            hits.append(Hit(df.loc[[i]], what, severity=sev, key=(name, fn)))
    return hits


@rule("GT-PERS-009", "IAM Roles Anywhere trust anchor created", "high", "Persistence",
      "T1098.001", "Account Manipulation: Additional Cloud Credentials")
def roles_anywhere_anchor(ctx: Context) -> list[Hit]:
    """CreateTrustAnchor (or CreateProfile): a certificate authority outside AWS can now get
    role credentials."""
    df = ok(ctx.calls(["CreateTrustAnchor", "UpdateTrustAnchor", "CreateProfile"]))
    return each(df, lambda r: f"{said(r['event_name'])} {detail(r['detail']).get('name') or ''}".strip())

