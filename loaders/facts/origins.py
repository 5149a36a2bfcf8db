"""Who is behind a session: the human or workload a sign-in names, and Identity Center users.

* :func:`origin_of_issue` reads it from the STS call that opened a session: a SAML sign-in's
  provider (``requestParameters.principalArn``) and subject (``userIdentity.userName``), a web
  identity's provider and subject claim (GitHub: repository and ref; EKS: namespace and
  service account), the service and session name of a service-issued session, and the
  SourceIdentity when set.
* :func:`tie_identity_center` names the Identity Center user of each ``AWSReservedSSO_*``
  session and adds the portal call (``GetRoleCredentials``, ``Federate``) that handed out
  its permission set, and the user's portal sign-in before it, to the calls that opened it. The portal call is matched by account,
  permission set, time and user (the user id, else the user name, which is the session
  name), so two users of one permission set in the same second stay apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from graphtrail import families
from graphtrail.times import micros
from loaders.schema import json_object as _dec

__all__ = ["PORTAL_EVENTS", "PORTAL_CALLS", "PORTAL_SIGNINS", "PORTAL_SLACK", "origin_of_issue", "claims", "permission_set",
           "tie_identity_center"]

# IAM Identity Center portal calls that hand a permission set's credentials to a user, and
# the portal sign-ins before them.
PORTAL_CALLS = families.PORTAL_CALLS.events
PORTAL_SIGNINS = families.PORTAL_SIGN_IN.events
PORTAL_EVENTS = families.PORTAL_EVENTS.events
PORTAL_SLACK = 120_000_000  # µs: a portal call vs the STS AssumeRoleWithSAML it causes
PORTAL_SESSION = 12 * 3600 * 1_000_000  # µs: the longest a sign-in is taken to open later calls


def tie_identity_center(sessions: Iterable, users: dict[str, str], portal_rows: list[dict]) -> None:
    """Identity Center origins and portal calls for ``sessions`` (Issuance objects), in place.

    ``users`` maps session id -> the ``onBehalfOf`` user id seen on its calls.
    """
    portal = _by_permission_set([r for r in portal_rows if r["event_name"] in PORTAL_CALLS])
    signins = sorted((r for r in portal_rows if r["event_name"] in PORTAL_SIGNINS),
                     key=lambda r: micros(r["time"]))
    used: set[str] = set()
    for s in sorted(sessions, key=lambda s: (s.issued, s.session)):
        if s.session in users:
            s.idc_user = users[s.session]
        ps = permission_set(s.principal)
        if ps is None:
            continue
        _name_user(s, ps)
        call = _portal_call(s, portal.get((s.account, ps), []) + portal.get((None, ps), []), used)
        if call is not None:
            used.add(call["event_id"])
            s.event_ids.append(call["event_id"])
            s.event_names.add(call["event_name"])
            if not s.idc_user and call["on_behalf_of"]:
                s.idc_user = s.origin["user_id"] = call["on_behalf_of"]
            s.origin["portal_event_id"] = call["event_id"]
            signin = _signin_before(call, signins)
            if signin is not None:
                s.event_ids.append(signin["event_id"])
                s.event_names.add(signin["event_name"])
                s.origin["signin_event_id"] = signin["event_id"]


def _signin_before(call: dict, signins: list[dict]) -> dict | None:
    """The user's latest portal sign-in before a portal call (within a portal session)."""
    t = micros(call["time"])
    best = None
    for r in signins:
        ts = micros(r["time"])
        if ts > t:
            break
        if t - ts <= PORTAL_SESSION and _user_of(r) == _user_of(call) and _user_of(r) != (None, None):
            best = r
    return best


def _user_of(row: dict) -> tuple[str | None, str | None]:
    obo = row.get("on_behalf_of")
    return (obo, None) if obo else (None, (row.get("user_name") or "").lower() or None)


def _by_permission_set(portal_rows: list[dict]) -> dict[tuple[str | None, str], list[dict]]:
    """Portal calls by (account, permission set) as their request names them."""
    out: dict[tuple[str | None, str], list[dict]] = {}
    for r in portal_rows:
        req = _dec(r["request_parameters"])
        ps = req.get("roleName")
        if isinstance(ps, str):
            acct = req.get("accountId")
            out.setdefault((str(acct) if acct else None, ps), []).append(r)
    return out


def _name_user(s, ps: str) -> None:
    """The session's origin is the Identity Center user (the session name is the user name)."""
    if s.origin is None:
        s.origin = {"kind": "identity_center", "subject": s.session_name}
    if s.origin.get("kind") in ("saml", "identity_center"):
        s.origin.update(kind="identity_center", permission_set=ps,
                        user_name=s.origin.get("subject") or s.session_name)
        if s.idc_user:
            s.origin["user_id"] = s.idc_user


def _portal_call(s, rows: list[dict], used: set[str]) -> dict | None:
    """The unused portal call of the session's user closest to its issue, within the slack."""
    best, gap = None, PORTAL_SLACK + 1
    for r in rows:
        d = abs(micros(r["time"]) - s.issued)
        if r["event_id"] not in used and d < gap and _same_user(r, s):
            best, gap = r, d
    return best


def origin_of_issue(name: str, req: dict, resp: dict, row: dict, sname: str | None) -> dict | None:
    """Who is behind a federated or service-issued session, as the STS call names it."""
    itype = row.get("identity_type")
    subject = row.get("user_name")
    pid = row.get("principal_id") or ""
    src = req.get("sourceIdentity") or resp.get("sourceIdentity")
    if name == "AssumeRoleWithSAML":
        provider = req.get("principalArn") or row.get("web_id_provider")
        o = {"kind": "saml", "provider": provider,
             "subject": subject or (pid.split(":", 1)[1] if ":" in pid else None) or resp.get("subject")}
        if isinstance(provider, str) and ":saml-provider/AWSSSO_" in provider:
            o["kind"] = "identity_center"
            o["user_name"] = o["subject"]
    elif name == "AssumeRoleWithWebIdentity":
        provider = row.get("web_id_provider") or resp.get("provider")
        o = {"kind": "web_identity", "provider": provider,
             "subject": subject or resp.get("subjectFromWebIdentityToken") or (pid.rsplit(":", 1)[-1] or None)}
        o.update(claims(str(o["subject"] or "")))
    elif itype == "AWSService" and name == "AssumeRole":
        o = {"kind": "service", "provider": row.get("invoked_by"), "subject": sname}
    else:
        return None
    if src:
        o["source_identity"] = src
    return o


def claims(sub: str) -> dict:
    """What a well-known OIDC subject says: a GitHub repository and ref, an EKS service account.

    >>> claims("repo:acme/api:ref:refs/heads/main")
    {'repository': 'acme/api', 'ref': 'refs/heads/main'}
    >>> claims("system:serviceaccount:payments:api")
    {'namespace': 'payments', 'service_account': 'api'}
    """
    if sub.startswith("repo:"):
        parts = sub.split(":")
        out = {"repository": parts[1] if len(parts) > 1 else None}
        if len(parts) > 3:
            out[parts[2] if parts[2] != "ref" else "ref"] = ":".join(parts[3:])
        return out
    if sub.startswith("system:serviceaccount:"):
        parts = sub.split(":")
        if len(parts) >= 4:
            return {"namespace": parts[2], "service_account": parts[3]}
    return {}


def permission_set(role: str | None) -> str | None:
    """``AWSReservedSSO_<PermissionSet>_<hash>`` -> the permission set's name."""
    name = (role or "").rsplit("/", 1)[-1]
    if not name.startswith("AWSReservedSSO_"):
        return None
    return name[len("AWSReservedSSO_"):].rsplit("_", 1)[0] or None


def _same_user(portal_row: dict, s) -> bool:
    """Is this portal call the session's user? By user id, else by user name."""
    obo = portal_row.get("on_behalf_of")
    if s.idc_user and obo:
        return obo == s.idc_user
    name = portal_row.get("user_name")
    if name and s.session_name:
        return name.lower() == s.session_name.lower()
    return False
