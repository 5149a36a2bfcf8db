"""Which credentials belong to a workload (instance, function, task, pod, CI runner).

Workload sessions are short-lived and many: a Lambda cold start or a new ECS task is a new
session from a new address. Baselines judge them per role, never per session.
"""

from __future__ import annotations

import re

from graphtrail import ids

__all__ = ["WORKLOAD_SERVICES", "workload_kind", "role_of"]

WORKLOAD_SERVICES = {"ec2.amazonaws.com": "instance", "lambda.amazonaws.com": "lambda",
                     "ecs-tasks.amazonaws.com": "ecs", "pods.eks.amazonaws.com": "eks",
                     "states.amazonaws.com": "stepfunctions", "codebuild.amazonaws.com": "codebuild"}
_INSTANCE = re.compile(r"^i-[0-9a-fA-F]{8,17}$")


def role_of(identity_arn) -> str | None:
    """``arn:aws:sts::A:assumed-role/R/s`` -> ``arn:aws:iam::A:role/R`` (else the ARN itself)."""
    if not isinstance(identity_arn, str):
        return None
    m = re.match(r"^arn:([\w-]+):sts::(\d*):assumed-role/([^/]+)/", identity_arn)
    if m:
        return f"arn:{m[1]}:iam::{m[2]}:role/{m[3]}"
    return identity_arn


def workload_kind(session: dict | None, identity_arn) -> str | None:
    """``instance``, ``lambda``, ``ecs``, ``eks``, ``web-identity`` (IRSA, GitHub OIDC...) or None."""
    if isinstance(identity_arn, str) and "assumed-role/" in identity_arn:
        name = identity_arn.rsplit("/", 1)[-1]
        if _INSTANCE.match(name):
            return "instance"
    if not session:
        return None
    issuer = session.get("issuer") or ""
    parsed = ids.parse_id(issuer) if isinstance(issuer, str) else None
    if parsed is not None and parsed.prefix is ids.IdPrefix.SERVICE:
        return WORKLOAD_SERVICES.get(parsed.value)
    if session.get("via") == "AssumeRoleWithWebIdentity":
        return "web-identity"
    return None
