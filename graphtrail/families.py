"""Event families: which CloudTrail event names mean the same thing to an investigation.

One registry, read by the loaders (which calls issue a credential, which carry request
parameters worth keeping), the questions (the call that opened a credential) and the findings
(policy changes, logging changes). A family is declared here once; everything else names it.

Adding a family: one :func:`family` line below (``tests/test_families.py`` fails when a module
re-types the event names of a registered family as a literal list).

>>> "GetRoleCredentials" in CREDENTIAL_ISSUING, "GetRoleCredentials" in STS_ISSUING
(True, False)
>>> sorted(family_of("PutRolePolicy"))
['inline_policy', 'policy_change']
>>> REGISTRY["trust_change"].events
frozenset({'UpdateAssumeRolePolicy'})
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "EventFamily",
    "REGISTRY",
    "family",
    "family_of",
    "ROLE_ASSUMPTION",
    "STS_TOKENS",
    "ROOT_ASSUMPTION",
    "STS_ISSUING",
    "PORTAL_CREDENTIALS",
    "PORTAL_FEDERATION",
    "PORTAL_CALLS",
    "PORTAL_SIGN_IN",
    "PORTAL_EVENTS",
    "CONSOLE_SIGN_IN",
    "KEY_CREATION",
    "KEY_CHANGE",
    "CREDENTIAL_ISSUING",
    "CREDENTIAL_OPENING",
    "LOGIN_PROFILE",
    "POLICY_ATTACH",
    "INLINE_POLICY",
    "POLICY_CHANGE",
    "POLICY_VERSION",
    "TRUST_CHANGE",
    "TRAIL_LIFECYCLE",
    "EVENT_SELECTORS",
    "LOGGING_CHANGE",
]


@dataclass(frozen=True, slots=True)
class EventFamily:
    """A named set of event names and what they mean to an investigator.

    It behaves as the set of its event names (``in``, iteration, ``|``), so a caller writes
    ``name in STS_ISSUING`` or ``ctx.calls(sorted(POLICY_CHANGE))``.
    """

    name: str
    meaning: str
    events: frozenset[str]

    def __contains__(self, event_name: object) -> bool:
        return event_name in self.events

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.events))

    def __len__(self) -> int:
        return len(self.events)

    def __or__(self, other: EventFamily | frozenset[str]) -> frozenset[str]:
        return self.events | (other.events if isinstance(other, EventFamily) else other)

    __ror__ = __or__


REGISTRY: dict[str, EventFamily] = {}


def family(name: str, meaning: str, *members: str | EventFamily) -> EventFamily:
    """Declare a family from event names and/or families it unites; register it under ``name``."""
    if name in REGISTRY:
        raise ValueError(f"event family {name!r} is declared twice")
    events: set[str] = set()
    for m in members:
        events |= m.events if isinstance(m, EventFamily) else {m}
    REGISTRY[name] = out = EventFamily(name, meaning, frozenset(events))
    return out


def family_of(event_name: str) -> set[str]:
    """The names of every family ``event_name`` belongs to."""
    return {f.name for f in REGISTRY.values() if event_name in f.events}


# -- credentials: issued, opened, created --------------------------------------------------
ROLE_ASSUMPTION = family("role_assumption", "STS calls that hand out a role's credentials",
                         "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity")
STS_TOKENS = family("sts_tokens", "STS calls that hand a user's own (or a federated) session",
                    "GetSessionToken", "GetFederationToken")
ROOT_ASSUMPTION = family("root_assumption", "STS AssumeRoot: a root session on a member account",
                         "AssumeRoot")
STS_ISSUING = family("sts_issuing", "every STS call whose response is a temporary credential",
                     ROLE_ASSUMPTION, STS_TOKENS, ROOT_ASSUMPTION)
PORTAL_CREDENTIALS = family("portal_credentials",
                            "IAM Identity Center portal: a permission set's credentials handed out",
                            "GetRoleCredentials")
PORTAL_FEDERATION = family("portal_federation",
                           "IAM Identity Center portal: a console sign-in to a permission set",
                           "Federate")
PORTAL_CALLS = family("portal_calls", "portal calls that hand a permission set to a user",
                      PORTAL_CREDENTIALS, PORTAL_FEDERATION)
PORTAL_SIGN_IN = family("portal_sign_in", "IAM Identity Center portal sign-ins",
                        "UserAuthentication", "Authenticate")
PORTAL_EVENTS = family("portal_events", "every portal call graphtrail links",
                       PORTAL_CALLS, PORTAL_SIGN_IN)
CONSOLE_SIGN_IN = family("console_sign_in", "a console sign-in", "ConsoleLogin")
KEY_CREATION = family("key_creation", "a long-term access key created", "CreateAccessKey")
KEY_CHANGE = family("key_change", "a long-term access key deactivated, activated or deleted",
                    "UpdateAccessKey", "DeleteAccessKey")
CREDENTIAL_ISSUING = family("credential_issuing",
                            "calls whose response carries a new credential (its key id)",
                            STS_ISSUING, PORTAL_CREDENTIALS, KEY_CREATION)
CREDENTIAL_OPENING = family("credential_opening",
                            "calls that open a credential: issue, sign-in, portal, key creation",
                            STS_ISSUING, PORTAL_EVENTS, CONSOLE_SIGN_IN, KEY_CREATION)
LOGIN_PROFILE = family("login_profile", "a console password set for a user",
                       "CreateLoginProfile", "UpdateLoginProfile")

# -- permissions and trust -----------------------------------------------------------------
POLICY_ATTACH = family("policy_attach", "a managed policy attached to a principal",
                       "AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy")
INLINE_POLICY = family("inline_policy", "an inline policy written on a principal",
                       "PutUserPolicy", "PutRolePolicy", "PutGroupPolicy")
POLICY_CHANGE = family("policy_change", "a principal's permissions changed by a policy",
                       POLICY_ATTACH, INLINE_POLICY)
POLICY_VERSION = family("policy_version", "a managed policy's document rewritten",
                        "CreatePolicyVersion", "SetDefaultPolicyVersion")
TRUST_CHANGE = family("trust_change", "a role's trust policy rewritten", "UpdateAssumeRolePolicy")

# -- logging -------------------------------------------------------------------------------
TRAIL_LIFECYCLE = family("trail_lifecycle", "a trail created, deleted, stopped, started or updated",
                         "StopLogging", "StartLogging", "DeleteTrail", "CreateTrail", "UpdateTrail")
EVENT_SELECTORS = family("event_selectors", "what a trail records narrowed or widened",
                         "PutEventSelectors", "PutInsightSelectors")
LOGGING_CHANGE = family("logging_change", "calls that start, stop or narrow what a trail records",
                        TRAIL_LIFECYCLE, EVENT_SELECTORS)
