"""Metadata filters of LangChain and LlamaIndex, translated into embspace's filter language.

Both frameworks pass filters as data: LangChain as a MongoDB-style dict (``{"genre": "sf", "year":
{"$gte": 2000}}``, ``{"$or": [...]}``), LlamaIndex as ``MetadataFilters`` objects (read here by their
attributes, so that this module imports neither framework). Each is translated into a string of the
language of :mod:`embspace.store` (docs/filters.md) and parsed once: every field name is written in
double quotes (a key is one key, dots included) and every value as a JSON literal, so no key or value
can change the structure of the filter. An operator the language cannot express is refused with
an :class:`~embspace.errors.InvalidInputError` that names it, never silently dropped.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..store import Filter, parse_filter

__all__ = ["LANGCHAIN_OPERATORS", "langchain_filter", "llama_index_filter"]

#: The operators of LangChain's dict filters that translate (per field, and the logical ones).
LANGCHAIN_OPERATORS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin", "$between", "$exists",
                       "$and", "$or", "$not")
_ORDER = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}


def _field(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"a filter field must be a non-empty string (a metadata key), got {key!r}")
    return json.dumps(key, ensure_ascii=False)


def _value(value: object, key: str) -> str:
    """``value`` as a literal of the filter language (JSON scalars; NumPy scalars as Python numbers)."""
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        if not math.isfinite(f):
            raise InvalidInputError(f"filter on {key!r}: {value!r} is not a finite number; JSON has no NaN or inf")
        return repr(f)
    raise InvalidInputError(f"filter on {key!r}: unsupported value {value!r} of type {type(value).__name__}; "
                            "expected a string, an int, a float, a bool or None")


def _values(values: object, key: str, op: str) -> str:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | set | frozenset):
        raise InvalidInputError(f"filter on {key!r}: {op} takes a list of values, got {values!r}")
    return "[" + ", ".join(_value(v, key) for v in values) + "]"


def _ordered(value: object, key: str, op: str) -> str:
    if value is None or isinstance(value, bool):
        raise InvalidInputError(f"filter on {key!r}: {op} compares numbers or strings, not {value!r}")
    return _value(value, key)


def _join(parts: list[str], word: str) -> str:
    if not parts:  # an empty conjunction is true, an empty disjunction false
        return "not (x in [])" if word == "and" else "x in []"
    return parts[0] if len(parts) == 1 else "(" + f" {word} ".join(f"({p})" for p in parts) + ")"


def _lc_field(key: str, cond: object) -> str:
    """One field's condition of a LangChain filter: a value (equality) or a dict of operators."""
    f = _field(key)
    if isinstance(cond, Mapping):
        if not cond:
            raise InvalidInputError(f"filter on {key!r}: an empty dict of operators; expected e.g. {{'$gte': 2000}}")
        parts = []
        for op, arg in cond.items():
            if op == "$eq":
                parts.append(f"{f} = {_value(arg, key)}")
            elif op == "$ne":
                parts.append(f"{f} != {_value(arg, key)}")
            elif op in _ORDER:
                parts.append(f"{f} {_ORDER[op]} {_ordered(arg, key, op)}")
            elif op == "$in":
                parts.append(f"{f} in {_values(arg, key, op)}")
            elif op == "$nin":
                parts.append(f"{f} not in {_values(arg, key, op)}")
            elif op == "$between":
                if isinstance(arg, str | bytes) or not isinstance(arg, Sequence) or len(arg) != 2:
                    raise InvalidInputError(f"filter on {key!r}: $between takes [low, high], got {arg!r}")
                parts.append(f"{f} >= {_ordered(arg[0], key, op)} and {f} <= {_ordered(arg[1], key, op)}")
            elif op == "$exists":
                if not isinstance(arg, bool):
                    raise InvalidInputError(f"filter on {key!r}: $exists takes True or False, got {arg!r}")
                parts.append(f"exists {f}" if arg else f"not exists {f}")
            else:
                raise InvalidInputError(
                    f"filter on {key!r}: the operator {op!r} is not supported by embspace collections; the "
                    f"operators are {', '.join(LANGCHAIN_OPERATORS)} ($like/$ilike have no equivalent: "
                    "filter the results in Python, or store the part to match as its own field)")
        return _join(parts, "and")
    if isinstance(cond, list | tuple | set | frozenset):
        raise InvalidInputError(f"filter on {key!r}: a list value is ambiguous; to match any of the values, "
                                f"write {{{key!r}: {{'$in': [...]}}}}")
    return f"{f} = {_value(cond, key)}"


def _lc_node(flt: object) -> str:
    if not isinstance(flt, Mapping):
        raise InvalidInputError(f"a LangChain filter is a dict (as in {{'genre': 'sf', 'year': {{'$gte': 2000}}}}), "
                                f"got {type(flt).__name__}: {flt!r}")
    parts = []
    for key, cond in flt.items():
        if key in ("$and", "$or"):
            if isinstance(cond, Mapping):
                cond = [{k: v} for k, v in cond.items()]
            if isinstance(cond, str | bytes) or not isinstance(cond, Sequence):
                raise InvalidInputError(f"{key} takes a list of filters, got {cond!r}")
            parts.append(_join([_lc_node(c) for c in cond], key[1:]))
        elif key == "$not":
            inner = cond if isinstance(cond, Mapping) else {"$and": cond}
            parts.append(f"not ({_lc_node(inner)})")
        elif isinstance(key, str) and key.startswith("$"):
            raise InvalidInputError(f"unknown logical operator {key!r} at the top of a filter; the logical operators "
                                    "are $and, $or and $not (a field is named without a leading $)")
        else:
            parts.append(_lc_field(key, cond))
    return _join(parts, "and")


def langchain_filter(flt: object) -> Filter | None:
    """A LangChain metadata filter as an embspace :class:`~embspace.store.Filter` (None: no filter).

    Parameters
    ----------
    flt : dict, str, Filter or None
        A dict in the MongoDB-like form LangChain vector stores take: ``{"field": value}`` (equality),
        ``{"field": {"$op": value}}`` with ``$eq $ne $lt $lte $gt $gte $in $nin $between $exists``, and
        the logical ``{"$and": [...]}``, ``{"$or": [...]}``, ``{"$not": {...}}``; several fields in one
        dict must all hold. A string in embspace's filter language (docs/filters.md) or a parsed
        :class:`~embspace.store.Filter` passes through.

    Raises
    ------
    InvalidInputError
        On an operator embspace cannot express (``$like``, ``$ilike``...) or a malformed filter.
    """
    if flt is None or isinstance(flt, Filter):
        return flt
    if isinstance(flt, str):
        return parse_filter(flt)
    if callable(flt):
        raise InvalidInputError("a filter function cannot run inside the collection's query; pass a dict filter "
                                "(as in {'genre': 'sf'}) or a filter string (docs/filters.md)")
    if isinstance(flt, Mapping) and not flt:
        return None
    return parse_filter(_lc_node(flt))


# ---------------------------------------------------------------------------------------------- LlamaIndex

_LLAMA_SIMPLE = {"==": "=", "!=": "!=", ">": ">", "<": "<", ">=": ">=", "<=": "<="}


def _enum_value(x: Any) -> str:
    return str(getattr(x, "value", x))


def _llama_one(flt: Any) -> str:
    key = flt.key
    f = _field(key)
    op = _enum_value(flt.operator)
    value = flt.value
    if op in _LLAMA_SIMPLE:
        literal = _ordered(value, key, op) if op not in ("==", "!=") else _value(value, key)
        return f"{f} {_LLAMA_SIMPLE[op]} {literal}"
    if op == "in":
        return f"{f} in {_values(value, key, op)}"
    if op == "nin":
        return f"{f} not in {_values(value, key, op)}"
    if op == "is_empty":
        return f"not exists {f} or {f} = null"  # missing or null (an empty list is not told apart)
    raise InvalidInputError(
        f"filter on {key!r}: the operator {op!r} is not supported by embspace collections; use ==, !=, >, <, >=, "
        "<=, in, nin or is_empty (array operators any/all/contains and text_match have no equivalent in the filter "
        "language: store the value to match as its own field)")


def _llama_node(filters: Any) -> str:
    condition = _enum_value(getattr(filters, "condition", None) or "and").lower()
    parts = []
    for f in filters.filters:
        parts.append(_llama_node(f) if hasattr(f, "filters") else _llama_one(f))
    if condition == "not":
        return f"not ({_join(parts, 'and')})"
    if condition not in ("and", "or"):
        raise InvalidInputError(f"unknown filter condition {condition!r}; expected and, or or not")
    return _join(parts, condition)


def llama_index_filter(filters: Any) -> Filter | None:
    """LlamaIndex ``MetadataFilters`` (nested, with conditions and/or/not) as an embspace Filter (None: none).

    The operators ``==``, ``!=``, ``>``, ``<``, ``>=``, ``<=``, ``in``, ``nin`` and ``is_empty`` translate;
    the others (``any``, ``all``, ``contains``, ``text_match``...) are refused with an InvalidInputError.
    """
    if filters is None or not getattr(filters, "filters", None):
        return None
    return parse_filter(_llama_node(filters))
