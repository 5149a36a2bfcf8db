"""``keys``, ``principals``, ``roles``, ``ips``, ``accounts``: the seeds a case holds."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

import pandas as pd
import typer

from graphtrail import ids
from graphtrail.cli.common import (
    DEFAULT_CASE,
    BackendOpt,
    CaseOpt,
    SinceOpt,
    UntilOpt,
    fail,
    open_store,
    time_bounds,
)
from graphtrail.cli.output import Format, emit_rows
from graphtrail.queries.inventory import Window, list_seeds

__all__ = ["LISTING_COMMANDS", "frame_rows"]


class SortBy(StrEnum):
    calls = "calls"
    first_seen = "first_seen"
    last_seen = "last_seen"


FormatOpt = Annotated[Format, typer.Option("--format", help="table, json or csv.")]
AccountOpt = Annotated[str | None, typer.Option("--account", help="Only calls recorded in or made from this account.")]
LikeOpt = Annotated[str | None, typer.Option(
    "--like", help="Only names containing this text (case-insensitive), or matching it as a glob (*, ?).")]
SortOpt = Annotated[SortBy, typer.Option("--sort", help="calls (most first), first_seen or last_seen (latest first).")]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="At most this many rows.")]


# A table shows what fits in 80 columns; --format json or csv gives every column.
TABLE_COLUMNS = {
    "keys": ["access_key", "owner", "last_seen", "calls", "errors"],
    "principals": ["principal", "type", "last_seen", "calls", "errors"],
    "roles": ["role", "sessions", "assumed_by", "last_seen", "calls"],
    "ips": ["ip", "last_seen", "calls", "errors", "keys"],
    "accounts": ["account", "last_seen", "calls", "errors", "principals", "regions"],
}


def _command(what: str, doc: str):
    def command(account: AccountOpt = None, since: SinceOpt = None, until: UntilOpt = None,
                like: LikeOpt = None, sort: SortOpt = SortBy.calls, limit: LimitOpt = None,
                case: CaseOpt = DEFAULT_CASE, fmt: FormatOpt = Format.table,
                backend: BackendOpt = "embedded") -> None:
        lo, hi = time_bounds(since, until)
        if lo is not None and hi is not None and lo > hi:
            raise fail(f"--since {since} is later than --until {until}")
        if account is not None and not (account.isdigit() and len(account) == 12):
            raise fail(f"--account {account!r}: an AWS account id is 12 digits")
        store = open_store(case, backend)
        df = list_seeds(store, what, Window(since=lo, until=hi, account=account, like=like,
                                            sort=sort.value, limit=limit))
        columns = TABLE_COLUMNS[what] if fmt == Format.table else list(df.columns)
        emit_rows(frame_rows(df), fmt, title=f"{what} ({len(df)})", columns=columns)

    command.__doc__ = doc
    command.__name__ = f"{what}_cmd"
    return command


def frame_rows(df: pd.DataFrame) -> list[dict]:
    """DataFrame -> plain rows: times as ISO 8601 UTC with Z, missing as None, lists as lists.

    Column by column (a row-wise walk of Arrow-backed columns is slow at thousands of rows).
    """
    cols = [_plain_column(df[c]) for c in df.columns]
    return [dict(zip(df.columns, row, strict=True)) for row in zip(*cols, strict=True)]


def _plain_column(col: pd.Series) -> list:
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        us = col.dt.tz_convert("UTC").dt.as_unit("us").astype("int64")
        return [None if gone else ids.iso(int(v)) for v, gone in zip(us, col.isna(), strict=True)]
    return [_plain(v) for v in col.tolist()]


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


LISTING_COMMANDS = {
    "keys": _command("keys", "Access keys and sessions: owner, issuing event, first/last seen, calls."),
    "principals": _command("principals", "Users, roles, root and other identities that made calls."),
    "roles": _command("roles", "Roles with sessions: how many, who assumed them, their calls."),
    "ips": _command("ips", "Source addresses: calls, and the principals and keys seen from each."),
    "accounts": _command("accounts", "Accounts calls were recorded in: principals, calls, regions."),
}
