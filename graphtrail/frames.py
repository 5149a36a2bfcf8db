"""Arrow tables as pandas DataFrames, the same under pandas 2 and pandas 3.

pandas 3 turns Arrow text into its ``str`` dtype, whose missing value is the float ``NaN``;
pandas 2 gave ``object`` columns holding ``None``. Code that asks ``isinstance(v, str)`` or
``if not v`` (and every reader of an answer) then sees ``nan`` where a value is missing.
Every table graphtrail turns into a DataFrame goes through :func:`to_frame`, so text
columns hold ``str`` or ``None`` and times are timezone-aware (``NaT`` when missing),
whichever pandas is installed.

>>> import pyarrow as pa
>>> df = to_frame(pa.table({"ip": ["198.51.100.7", None]}))
>>> df["ip"].tolist(), str(df["ip"].dtype)
(['198.51.100.7', None], 'object')
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

__all__ = ["to_frame", "is_text", "none_for_missing", "records_frame", "TIME_COLUMNS"]

# Columns that hold times, wherever a DataFrame is made from answers.
TIME_COLUMNS = ("time", "first_seen", "last_seen", "issued", "expires")


def is_text(kind: pa.DataType) -> bool:
    """Arrow string types, dictionary-encoded or not."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """``table`` as a DataFrame: text as ``object`` (``str`` or ``None``), times tz-aware."""
    df = table.to_pandas()
    for name, kind in zip(table.column_names, table.schema.types, strict=True):
        if is_text(kind):
            column = table.column(name)
            if pa.types.is_dictionary(kind):
                column = column.cast(pa.string())
            df[name] = pd.Series(column.to_numpy(zero_copy_only=False), index=df.index,
                                 dtype=object)
    return df


def none_for_missing(df: pd.DataFrame) -> pd.DataFrame:
    """A copy where every missing text or number is ``None`` (times keep ``NaT``)."""
    out = df.copy()
    for name in out.columns:
        kind = out[name].dtype
        if pd.api.types.is_datetime64_any_dtype(kind) or pd.api.types.is_integer_dtype(kind):
            continue  # NaT stays; integers have no missing value
        col = out[name].astype(object)
        out[name] = col.where(col.notna(), None)
    return out


def records_frame(rows: list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    """Answer rows as a DataFrame: missing values ``None``, ISO times as tz-aware Timestamps.

    >>> df = records_frame([{"time": "2024-08-01T13:42:21Z", "ip": None}])
    >>> df["time"][0], df["ip"][0] is None
    (Timestamp('2024-08-01 13:42:21+0000', tz='UTC'), True)
    """
    df = pd.DataFrame(rows, columns=columns, dtype=object)
    for name in df.columns:
        values = [v for v in df[name] if v is not None]
        if name in TIME_COLUMNS:
            df[name] = pd.to_datetime(df[name], utc=True, format="ISO8601")
        elif values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            if len(values) == len(df):
                df[name] = df[name].astype("int64")
    return none_for_missing(df)
