"""The registry of event families: which event names turn into which graph facts.

Adding an event family is one module with ``@handles("EventName", ...)`` functions plus
one import line in :mod:`loaders.facts` (``FAMILY_MODULES``). A handler receives one
successful call and returns the facts it proves.

``grep -rn '@handles' loaders/facts`` lists every event graphtrail understands beyond
the generic ACTED_ON / ATTEMPTED / FROM_IP facts every call gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from graphtrail.model import EdgeKind, Node

__all__ = ["Call", "Fact", "handles", "HANDLERS"]


@dataclass(frozen=True, slots=True)
class Call:
    """One successful API call, as a handler sees it."""

    event_id: str
    time: int  # epoch µs
    event_name: str
    actor: str  # node id of the credential (or principal) that made the call
    caller_arn: str | None
    account: str | None  # the account that logged the call (recipient)
    request: dict
    response: dict


@dataclass(slots=True)
class Fact:
    """An edge the call proves, and the nodes it needs to exist."""

    src: str
    dst: str
    kind: EdgeKind
    nodes: list[Node] = field(default_factory=list)
    props: dict = field(default_factory=dict)


Handler = Callable[[Call], list[Fact]]
HANDLERS: dict[str, Handler] = {}


def handles(*event_names: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``event_names``."""

    def register(fn: Handler) -> Handler:
        for name in event_names:
            if name in HANDLERS:
                raise ValueError(f"{name} is already handled by {HANDLERS[name].__module__}")
            HANDLERS[name] = fn
        return fn

    return register
