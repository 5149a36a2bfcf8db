"""Reading IAM policy documents as CloudTrail carries them (JSON text, often URL-encoded).

>>> is_admin_document('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
True
>>> trusted_accounts({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}]})
['999999999999']
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

__all__ = ["policy_document", "is_admin_document", "trusted_accounts", "ADMIN_POLICY_ARNS"]

ADMIN_POLICY_ARNS = frozenset({"arn:aws:iam::aws:policy/AdministratorAccess",
                               "arn:aws:iam::aws:policy/IAMFullAccess",
                               "arn:aws:iam::aws:policy/PowerUserAccess"})


def policy_document(value: Any) -> dict:
    """A policy document from a request parameter (dict, JSON text, URL-encoded or not)."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return {}
    for text in (value, unquote(value)):
        try:
            doc = json.loads(text)
            return doc if isinstance(doc, dict) else {}
        except json.JSONDecodeError:
            continue
    return {}


def _statements(doc: dict) -> list[dict]:
    st = doc.get("Statement", [])
    st = st if isinstance(st, list) else [st]
    return [s for s in st if isinstance(s, dict)]


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def is_admin_document(value: Any) -> bool:
    """Allow ``*`` (or ``iam:*``) on ``*`` anywhere in the document."""
    for s in _statements(policy_document(value)):
        if s.get("Effect") != "Allow":
            continue
        actions = [a for a in _as_list(s.get("Action", [])) if isinstance(a, str)]
        resources = [r for r in _as_list(s.get("Resource", [])) if isinstance(r, str)]
        if any(a in ("*", "iam:*") for a in actions) and "*" in resources:
            return True
    return False


def trusted_accounts(value: Any) -> list[str]:
    """Accounts (or ``*``) a trust policy lets assume the role."""
    out: list[str] = []
    for s in _statements(policy_document(value)):
        if s.get("Effect") != "Allow":
            continue
        principal = s.get("Principal", {})
        if principal == "*":
            out.append("*")
            continue
        aws = principal.get("AWS", []) if isinstance(principal, dict) else []
        for p in _as_list(aws):
            if not isinstance(p, str):
                continue
            if p == "*":
                out.append("*")
            elif p.isdigit():
                out.append(p)
            elif p.startswith("arn:") and len(p.split(":")) > 4:
                out.append(p.split(":")[4])
    return sorted(set(out))
