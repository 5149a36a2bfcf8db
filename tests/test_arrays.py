"""graphtrail.arrays: np.unique's answers by a sort, and no hashed np.unique left."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from graphtrail.arrays import distinct

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint32, np.intp])
@pytest.mark.parametrize("size", [0, 1, 2, 7, 10_000])
def test_distinct_is_what_numpy_unique_gives(dtype, size):
    rng = np.random.default_rng(size)
    hi = min(np.iinfo(dtype).max, 50)
    a = rng.integers(0, hi, size).astype(dtype)
    got = distinct(a)
    assert got.dtype == a.dtype
    assert got.tolist() == np.unique(a).tolist()


def test_distinct_flattens_and_leaves_its_input_alone():
    a = np.array([[3, 1], [3, 2]], dtype=np.int64)
    assert distinct(a).tolist() == [1, 2, 3]
    assert a.tolist() == [[3, 1], [3, 2]]


def test_no_code_asks_numpy_for_bare_unique_values():
    """``np.unique(x)`` alone hashes since numpy 2.3 (5-17x slower on integer codes): the
    code uses :func:`distinct`; ``np.unique`` with ``return_index``/``return_inverse``/
    ``return_counts`` still sorts and is fine."""
    bare = []
    for folder in ("graphtrail", "loaders"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "unique" and isinstance(node.func.value, ast.Name)
                        and node.func.value.id in ("np", "numpy") and not node.keywords):
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == []
