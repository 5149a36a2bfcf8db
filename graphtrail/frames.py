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

__all__ = ["to_frame", "is_text", "none_for_missing"]


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
        if not pd.api.types.is_datetime64_any_dtype(out[name].dtype):
            col = out[name].astype(object)
            out[name] = col.where(col.notna(), None)
    return out
