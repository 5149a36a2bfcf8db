"""Evaluating a Sigma detection over a case's events, in Arrow.

pySigma parses a rule into a condition tree (``ConditionAND``/``OR``/``NOT`` over
``field = value`` leaves, with the modifiers already applied to the values: ``contains``
became ``*x*``, ``re`` a :class:`~sigma.types.SigmaRegularExpression`, ``all`` an AND of the
values). This module is the small backend that evaluates that tree over the events table:

* every leaf is decided once per *distinct* value of its column (dictionary-encoded), so a
  regular expression or a CIDR costs the number of distinct values, not of calls;
* fields inside the JSON columns (``requestParameters.x``) are *unknown* in a first pass over
  the plain columns (Kleene logic: ``unknown and false`` is false), and only the calls still
  undecided have their JSON parsed, in a second pass;
* a value that is a list (``items`` of a request) matches when any element does.

Sigma semantics kept: strings match case-insensitively unless ``|cased``; ``*``/``?`` are
wildcards; ``re`` searches (unanchored) with Python's syntax when RE2 cannot compile it;
``field: null`` is a missing field.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from graphtrail.queries.findings.sigma_fields import Field, where

__all__ = ["Unsupported", "Values", "leaves", "check", "evaluate"]


class Unsupported(ValueError):
    """A construct of a rule this evaluator does not run (the message names it)."""


@dataclass
class Values:
    """The values of one field for ``n`` calls: distinct ``words`` and, per value, its call.

    ``row`` is None when each call has at most one value (``row[i] == i``); a list in the
    JSON gives a call several values.
    """

    words: pa.Array  # distinct values, as text
    codes: np.ndarray  # index into words, per value
    row: np.ndarray | None  # the call of each value (None: value i is call i)
    n: int

    @classmethod
    def of_column(cls, col: pa.ChunkedArray | pa.Array) -> Values:
        col = _as_text(col)
        enc = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
        codes = enc.indices.to_numpy(zero_copy_only=False)
        if enc.indices.null_count:
            codes = np.where(enc.indices.is_valid().to_numpy(zero_copy_only=False), codes, -1)
        return cls(enc.dictionary, codes.astype(np.int64), None, len(col))

    @classmethod
    def of_python(cls, per_call: list[list[str]]) -> Values:
        words: dict[str, int] = {}
        codes, rows = [], []
        for i, vals in enumerate(per_call):
            for v in vals:
                codes.append(words.setdefault(v, len(words)))
                rows.append(i)
        return cls(pa.array(list(words), pa.string()), np.array(codes, dtype=np.int64),
                   np.array(rows, dtype=np.int64), len(per_call))

    def present(self) -> np.ndarray:
        """True for calls that have a value."""
        if self.row is None:
            return self.codes >= 0
        out = np.zeros(self.n, dtype=bool)
        out[self.row] = True
        return out

    def any(self, word_mask: np.ndarray) -> np.ndarray:
        """True for calls with a value whose word is True in ``word_mask``."""
        if self.row is None:
            ok = np.append(word_mask, False)  # code -1 (no value) reads the appended False
            return ok[self.codes]
        out = np.zeros(self.n, dtype=bool)
        out[self.row[word_mask[self.codes]]] = True
        return out


Resolver = Callable[[Field], "Values | None"]  # None: not known in this pass


def leaves(tree) -> list:
    """The ``field = value`` leaves of a condition tree (raises Unsupported for keywords)."""
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        return [tree]
    if isinstance(tree, ConditionValueExpression):
        raise Unsupported(f"keyword search {_show(tree.value)!r} (a value without a field)")
    if isinstance(tree, ConditionAND | ConditionOR | ConditionNOT):
        return [leaf for a in tree.args for leaf in leaves(a)]
    raise Unsupported(f"condition element {type(tree).__name__}")


def check(tree) -> set[Field]:
    """The fields a tree reads; raises :class:`Unsupported` for what cannot be evaluated."""
    fields = set()
    for leaf in leaves(tree):
        f = where(leaf.field)
        if f is None:
            raise Unsupported(f"field {leaf.field!r} (not kept in a case)")
        _matcher(leaf.value)  # raises for a value type or modifier not supported
        fields.add(f)
    return fields


def evaluate(tree, n: int, resolve: Resolver, unknown=None) -> pa.BooleanArray:
    """The tree over ``n`` calls: True, False, or null where a field was not resolved.

    ``unknown(field)``, for a field ``resolve`` leaves out, gives the calls where its value
    may exist (a mask; the others have none), so those alone stay undecided.
    """
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        f = where(tree.field)
        vals = resolve(f)
        if vals is not None:
            return pa.array(_match(tree.value, vals), pa.bool_())
        maybe = unknown(f) if unknown is not None else None
        if maybe is None:
            return pa.nulls(n, pa.bool_())
        absent = _match(tree.value, Values(pa.array([], pa.string()), np.full(n, -1), None, n))
        return pa.array(absent, pa.bool_(), mask=maybe)
    args = [evaluate(a, n, resolve, unknown) for a in tree.args]
    if isinstance(tree, ConditionNOT):
        return pc.invert(args[0])
    combine = pc.and_kleene if isinstance(tree, ConditionAND) else pc.or_kleene
    out = args[0]
    for a in args[1:]:
        out = combine(out, a)
    return out


# -- one leaf ---------------------------------------------------------------------------

def _match(value, vals: Values) -> np.ndarray:
    if isinstance(value, SigmaNull):
        return ~vals.present()
    if isinstance(value, SigmaExists):
        return vals.present() if value.exists else ~vals.present()
    return vals.any(_matcher(value)(vals.words))


def _matcher(value) -> Callable[[pa.Array], np.ndarray]:
    """A function of the distinct words -> a mask, for one Sigma value."""
    if isinstance(value, SigmaNull | SigmaExists):
        return lambda words: np.zeros(len(words), dtype=bool)
    if isinstance(value, SigmaString):
        for part in value.s:
            if not isinstance(part, str | SpecialChars):
                raise Unsupported(f"placeholder {part} in {_show(value)!r} (|expand)")
        return _string_matcher(value)
    if isinstance(value, SigmaBool):
        return _equal_folded("true" if value.boolean else "false")
    if isinstance(value, SigmaNumber):
        return _number_matcher(lambda x, v=value.number: x == v, str(value.number))
    if isinstance(value, SigmaRegularExpression):
        return _regex_matcher(value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_matcher(value.network)
    if isinstance(value, SigmaCompareExpression):
        op = {CompareOperators.LT: np.less, CompareOperators.LTE: np.less_equal,
              CompareOperators.GT: np.greater, CompareOperators.GTE: np.greater_equal,
              CompareOperators.NEQ: np.not_equal}[value.op]
        return _number_matcher(lambda x, v=value.number.number: bool(op(x, v)), None)
    if hasattr(value, "field") and type(value).__name__ == "SigmaFieldReference":
        raise Unsupported(f"|fieldref (a comparison with field {value.field!r})")
    raise Unsupported(f"value {_show(value)!r} of type {type(value).__name__}")


def _string_matcher(value: SigmaString) -> Callable[[pa.Array], np.ndarray]:
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.s)
    star = SpecialChars.WILDCARD_MULTI
    plain = all(isinstance(p, str) for p in parts)
    text = "".join(p for p in parts if isinstance(p, str))
    if plain:
        return _equal_folded(text, cased=cased)
    middle = parts[1:-1]
    if all(isinstance(p, str) for p in middle) and text:
        if len(parts) == 3 and parts[0] == star and parts[-1] == star:
            return _mask(lambda w: pc.match_substring(w, text, ignore_case=not cased))
        if len(parts) == 2 and parts[-1] == star and isinstance(parts[0], str):
            return _mask(lambda w: pc.starts_with(w, text, ignore_case=not cased))
        if len(parts) == 2 and parts[0] == star and isinstance(parts[-1], str):
            return _mask(lambda w: pc.ends_with(w, text, ignore_case=not cased))
    rx = "".join(re.escape(p) if isinstance(p, str) else (".*" if p == star else ".")
                 for p in parts)
    return _mask(lambda w: pc.match_substring_regex(w, f"(?s)^(?:{rx})$", ignore_case=not cased))


def _equal_folded(text: str, *, cased: bool = False) -> Callable[[pa.Array], np.ndarray]:
    if cased:
        return _mask(lambda w: pc.equal(w, text))
    return _mask(lambda w: pc.equal(pc.utf8_lower(w), text.lower()))


def _regex_matcher(value: SigmaRegularExpression) -> Callable[[pa.Array], np.ndarray]:
    pattern = str(value.regexp)
    flags = {f for f in value.flags}
    try:
        re.compile(pattern)
    except re.error as e:
        raise Unsupported(f"regular expression {pattern!r} ({e})") from e
    inline = "".join(c for f, c in ((SigmaRegularExpressionFlag.MULTILINE, "m"),
                                    (SigmaRegularExpressionFlag.DOTALL, "s")) if f in flags)
    ignore = SigmaRegularExpressionFlag.IGNORECASE in flags
    rx = f"(?{inline}){pattern}" if inline else pattern

    def match(words: pa.Array) -> np.ndarray:
        try:
            return _fill(pc.match_substring_regex(words, rx, ignore_case=ignore))
        except pa.ArrowInvalid:  # a construct RE2 lacks (look-around, backreference)
            py = re.compile(rx, re.IGNORECASE if ignore else 0)
            return np.array([w is not None and py.search(w) is not None
                             for w in words.to_pylist()], dtype=bool)
    return match


def _cidr_matcher(network) -> Callable[[pa.Array], np.ndarray]:
    def inside(w) -> bool:
        try:
            return w is not None and ipaddress.ip_address(w) in network
        except ValueError:  # a service name (``lambda.amazonaws.com``), not an address
            return False
    return lambda words: np.array([inside(w) for w in words.to_pylist()], dtype=bool)


def _number_matcher(test: Callable[[float], bool], text: str | None) -> Callable[[pa.Array], np.ndarray]:
    def one(w) -> bool:
        if w is None:
            return False
        try:
            return test(float(w))
        except ValueError:
            return text is not None and w == text
    return lambda words: np.array([one(w) for w in words.to_pylist()], dtype=bool)


def _mask(fn) -> Callable[[pa.Array], np.ndarray]:
    return lambda words: _fill(fn(words))


def _fill(a) -> np.ndarray:
    return pc.fill_null(a, False).to_numpy(zero_copy_only=False).astype(bool)


def _as_text(col):
    """A column as text: booleans ``true``/``false``, times ISO 8601 with ``Z``."""
    t = col.type
    if pa.types.is_dictionary(t):
        return _as_text(col.cast(t.value_type))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false")
    if pa.types.is_timestamp(t):
        if len(col) == 0:  # pyarrow 17 crashes formatting an empty column
            return pa.array([], pa.string())
        return pc.strftime(col.cast(pa.timestamp("us", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
    return col.cast(pa.string())


def json_values(texts: list[str | None], path: tuple[str, ...]) -> list[list[str]]:
    """Every value at ``path`` in each JSON text, as Sigma compares them (text)."""
    out = []
    for text in texts:
        if text is None:
            out.append([])
            continue
        try:
            node = json.loads(text)
        except json.JSONDecodeError:
            out.append([])
            continue
        out.append([_word(v) for v in _walk(node, path) if v is not None])
    return out


def _walk(node, path: tuple[str, ...]):
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, path)
        return
    if not path:
        yield node
        return
    if isinstance(node, dict) and path[0] in node:
        yield from _walk(node[path[0]], path[1:])


def _word(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return json.dumps(v)
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


def _show(value) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001  (a value type without a text form)
        return type(value).__name__
