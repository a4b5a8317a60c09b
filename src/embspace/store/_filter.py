"""The metadata filter language of collections: parse, compile to parameterised SQL, evaluate in Python.

A filter is either a string in a small language (``lang = "en" and year >= 2000``) or a dict of
equalities (``{"lang": "en", "year": 2020}``, with optional ``$``-operators per key). Both are
parsed into the same tree, which is

- compiled by :func:`compile_filter` into a boolean SQLite expression over the JSON metadata
  column. Every value and every JSON path is a bound ``?`` parameter: the SQL text is built only
  from constants of this module and the (validated) column name, never from user input;
- evaluated by :func:`matches` in pure Python, with exactly the same semantics (the Collection uses
  it for in-memory checks, the tests use it as the oracle of the SQL).

The logic is two-valued: every filter is true or false for every row, never "unknown" as SQL's
NULL would be, so ``not f`` matches exactly the rows that ``f`` does not. The language and its
semantics are documented in ``docs/filters.md``.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, TypeAlias

from ..errors import InvalidInputError

__all__ = ["BULK_MIN", "MAX_DEPTH", "MAX_SQL_NESTING", "MAX_SQL_PARAMS", "CompiledFilter",
           "Filter", "FilterLike", "FilterValue", "Scalar",
           "compile_filter", "matches", "parse_filter"]

#: A JSON scalar: the values a filter compares with.
Scalar: TypeAlias = str | int | float | bool | None
#: The value of one key of a dict filter: a JSON scalar (equality), or a dict of operators such as
#: ``{"$gte": 2000}`` or ``{"$in": ["en", "de"]}``.
FilterValue: TypeAlias = Scalar | Mapping[str, object]
#: A path into nested JSON objects: ``a.b`` is ``("a", "b")``.
_Path: TypeAlias = tuple[str, ...]

#: Parentheses nested deeper than this in a filter string are a parse error: it keeps the recursive
#: parser and evaluator far from Python's recursion limit, and the SQL within SQLite's limits below.
MAX_DEPTH: Final = 32
#: The compiled SQL may nest parentheses this deep at most. SQLite's parser has a fixed stack of 100
#: entries (3.40; it overflows from about 75 nested parentheses); only huge machine-made filters
#: (tens of levels with tens of terms each) get here, and compile_filter refuses them.
MAX_SQL_NESTING: Final = 64
#: An ``in`` list longer than this, or more equalities than this on distinct top-level keys joined by
#: and/or (a big dict filter), is compiled to ONE JSON parameter read with ``json_each`` instead of one
#: ``?`` per value: the SQL stays short (SQLite prepares long expressions in quadratic time) and within
#: SQLite's limit on bound variables, whatever the size of the filter.
BULK_MIN: Final = 32
#: A compiled filter binding more parameters than this is refused (SQLite's default limit is 32,766);
#: only filters of tens of thousands of conditions that are not equalities or ``in`` lists reach it.
MAX_SQL_PARAMS: Final = 30_000
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "exists", "true", "false", "null"})
_NUMBER_TYPES: Final = ("integer", "real")


# --------------------------------------------------------------------------------------------- tree


@dataclass(frozen=True, slots=True)
class _Exists:
    path: _Path


@dataclass(frozen=True, slots=True)
class _Compare:
    path: _Path
    op: str  # one of "=", "<", "<=", ">", ">=" ("!=" is _Not(_Compare("=")))
    value: Scalar


@dataclass(frozen=True, slots=True)
class _In:
    path: _Path
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class _Not:
    arg: _Node


@dataclass(frozen=True, slots=True)
class _And:
    args: tuple[_Node, ...]  # empty: matches everything


@dataclass(frozen=True, slots=True)
class _Or:
    args: tuple[_Node, ...]  # empty: matches nothing


_Node: TypeAlias = "_Exists | _Compare | _In | _Not | _And | _Or"


def _negate(node: _Node) -> _Node:
    return node.arg if isinstance(node, _Not) else _Not(node)  # not not x is x: the logic is two-valued


def _and(args: list[_Node]) -> _Node:
    flat: list[_Node] = []
    for a in args:
        flat.extend(a.args if isinstance(a, _And) else (a,))
    return flat[0] if len(flat) == 1 else _And(tuple(flat))


def _or(args: list[_Node]) -> _Node:
    flat: list[_Node] = []
    for a in args:
        flat.extend(a.args if isinstance(a, _Or) else (a,))
    return flat[0] if len(flat) == 1 else _Or(tuple(flat))


# ------------------------------------------------------------------------------------------- errors


def _syntax_error(text: str, pos: int, message: str) -> InvalidInputError:
    """An error at offset ``pos`` of ``text``, with its column and the line under a caret."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    if line_end < 0:
        line_end = len(text)
    column = pos - line_start + 1
    where = f"column {column}"
    if "\n" in text:
        where = f"line {text.count(chr(10), 0, pos) + 1}, " + where
    line, offset = text[line_start:line_end], pos - line_start
    lo = max(0, offset - 50)
    hi = min(len(line), lo + 90)
    prefix, suffix = ("..." if lo > 0 else ""), ("..." if hi < len(line) else "")
    shown = "".join(" " if ord(ch) < 32 else ch for ch in prefix + line[lo:hi] + suffix)
    caret = " " * (len(prefix) + offset - lo) + "^"
    return InvalidInputError(f"invalid filter at {where}: {message}\n    {shown}\n    {caret}")


def _utf8_error_pos(text: str) -> int | None:
    """The offset of the first character that UTF-8 cannot encode (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def _short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")


# ---------------------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name", "str", "num", "op", "punct", "eof"
    text: str  # the source text of the token
    pos: int  # its offset in the filter
    value: Scalar = None  # decoded string or number
    quote: str = ""  # the quote character of a "str" token

    def is_kw(self, word: str) -> bool:
        return self.kind == "name" and self.text.lower() == word

    def is_punct(self, char: str) -> bool:
        return self.kind == "punct" and self.text == char

    def describe(self) -> str:
        if self.kind == "eof":
            return "the end of the filter"
        if self.kind == "str":
            return f"the string {_short(str(self.value))}"
        if self.kind == "num":
            return f"the number {self.text}"
        if self.kind == "name":
            if self.text.lower() in _KEYWORDS:
                return f"the keyword {self.text!r}"
            return f"the name {_short(self.text)}"
        return repr(self.text)


_TOKEN_RE: Final = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>==|!=|<=|>=|<|>|=)
  | (?P<punct>[()\[\],.])
  | (?P<quote>["'])
    """,
    re.VERBOSE,
)
_IDENT_RE: Final = re.compile(r"[^\W\d]\w*")
_ESCAPES: Final = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX4_RE: Final = re.compile(r"[0-9a-fA-F]{4}")


def _scan_string(text: str, start: int) -> tuple[str, int]:
    """Decode the quoted string that starts at ``text[start]``; return it and the offset after it."""
    quote = text[start]
    out: list[str] = []
    i, n = start + 1, len(text)
    while True:
        if i >= n:
            raise _syntax_error(text, start, f"unterminated string: no closing {quote} for the one here")
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = text[i + 1] if i + 1 < n else ""
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc == "u":
            code, i = _scan_unicode_escape(text, i)
            out.append(chr(code))
        else:
            shown = f"\\{esc}" if esc else "\\ at the end"
            raise _syntax_error(text, i, f"unknown escape {shown}; the escapes are \\\\ \\\" \\' \\/ \\b \\f \\n "
                                         "\\r \\t and \\uXXXX (write \\\\ for a backslash)")


def _scan_unicode_escape(text: str, i: int) -> tuple[int, int]:
    """Decode ``\\uXXXX`` at ``text[i]`` (a surrogate pair counts as one character)."""
    hex4 = text[i + 2 : i + 6]
    if not _HEX4_RE.fullmatch(hex4):
        raise _syntax_error(text, i, "\\u must be followed by four hexadecimal digits, as in \\u00e9")
    code = int(hex4, 16)
    if 0xD800 <= code < 0xDC00:  # a high surrogate: must be followed by a low one
        low = text[i + 8 : i + 12] if text[i + 6 : i + 8] == "\\u" else ""
        if _HEX4_RE.fullmatch(low) and 0xDC00 <= int(low, 16) < 0xE000:
            return 0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00), i + 12
        raise _syntax_error(text, i, "a lone surrogate \\u escape is not a character; write the character "
                                     "itself, or a surrogate pair \\uD83D\\uDE00")
    if 0xDC00 <= code < 0xE000:
        raise _syntax_error(text, i, "a lone surrogate \\u escape is not a character; write the character itself")
    return code, i + 6


def _number(text: str, tok_text: str, pos: int) -> int | float:
    if any(c in tok_text for c in ".eE"):
        value = float(tok_text)
        if not math.isfinite(value):
            raise _syntax_error(text, pos, f"the number {tok_text} is too large for a 64-bit float")
        return value
    digits = tok_text.lstrip("-")
    if len(digits) > 20 or not _INT64_MIN <= int(tok_text) <= _INT64_MAX:
        raise _syntax_error(text, pos, f"the integer {_short(tok_text)} does not fit in 64 bits; "
                                       "write it as a float (with a decimal point) if an approximation will do")
    return int(tok_text)


def _tokenize(text: str) -> Iterator[_Token]:
    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise _syntax_error(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind == "ws":
            pos = m.end()
        elif kind == "quote":
            value, end = _scan_string(text, pos)
            yield _Token("str", text[pos:end], pos, value, text[pos])
            pos = end
        elif kind == "num":
            yield _Token("num", m.group(), pos, _number(text, m.group(), pos))
            pos = m.end()
        else:
            yield _Token(kind, m.group(), pos)
            pos = m.end()
    yield _Token("eof", "", n)


# ------------------------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the grammar of docs/filters.md (precedence: not > and > or)."""

    def __init__(self, text: str) -> None:
        bad = _utf8_error_pos(text)
        if bad is not None:
            raise _syntax_error(text, bad, "the filter contains a lone surrogate, which is not a character")
        self.text = text
        self.tokens = list(_tokenize(text))
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, tok: _Token, message: str) -> InvalidInputError:
        return _syntax_error(self.text, tok.pos, message)

    def parse(self) -> _Node:
        if self.peek().kind == "eof":
            raise InvalidInputError("the filter string is empty; pass where=None (not an empty string) "
                                    "to match every item")
        node = self.or_expr()
        tok = self.peek()
        if tok.is_punct(")"):
            raise self.error(tok, "unbalanced ')': no '(' opens it")
        if tok.kind != "eof":
            raise self.error(tok, f"expected 'and', 'or' or the end of the filter, found {tok.describe()}")
        return node

    def or_expr(self) -> _Node:
        args = [self.and_expr()]
        while self.peek().is_kw("or"):
            self.take()
            args.append(self.and_expr())
        return _or(args)

    def and_expr(self) -> _Node:
        args = [self.not_expr()]
        while self.peek().is_kw("and"):
            self.take()
            args.append(self.not_expr())
        return _and(args)

    def not_expr(self) -> _Node:
        negate = False
        while self.peek().is_kw("not"):  # a loop, not recursion: "not not ... x" cannot blow the stack
            self.take()
            negate = not negate
        node = self.primary()
        return _negate(node) if negate else node

    def primary(self) -> _Node:
        tok = self.peek()
        if tok.is_punct("("):
            if self.depth >= MAX_DEPTH:
                raise self.error(tok, f"parentheses nested deeper than {MAX_DEPTH} levels")
            self.take()
            self.depth += 1
            node = self.or_expr()
            self.depth -= 1
            close = self.take()
            if not close.is_punct(")"):
                col = tok.pos - self.text.rfind("\n", 0, tok.pos)
                raise self.error(close, f"expected ')' to close the '(' at column {col}, found {close.describe()}")
            return node
        if tok.is_kw("exists"):
            self.take()
            return _Exists(self.field())
        if tok.kind == "name" or (tok.kind == "str" and tok.quote == '"'):
            return self.predicate(self.field())
        if tok.kind == "str":
            raise self.error(tok, f"expected a field name, found {tok.describe()}; field names are bare names or in "
                                  f"double quotes, as in \"my key\" = 'value'")
        if tok.kind == "num":
            raise self.error(tok, f"expected a condition, found {tok.describe()}; write the field first, as in "
                                  f"field = {tok.text}")
        raise self.error(tok, f"expected a condition (field = value, field in [...], exists field, not ..., "
                              f"or '('), found {tok.describe()}")

    def field(self) -> _Path:
        names = [self.name()]
        while self.peek().is_punct("."):
            self.take()
            names.append(self.name())
        return tuple(names)

    def name(self) -> str:
        tok = self.take()
        if tok.kind == "name":
            low = tok.text.lower()
            if low in ("true", "false", "null"):
                raise self.error(tok, f"expected a field name, found the value {tok.text}; write the field first, "
                                      f"as in field = {low} (or quote a field named so: \"{tok.text}\")")
            if low in _KEYWORDS:
                raise self.error(tok, f"expected a field name, found {tok.describe()}; to use it as a field name, "
                                      f"quote it: \"{tok.text}\"")
            return tok.text
        if tok.kind == "str" and tok.quote == '"':
            return str(tok.value)
        hint = "; field names are bare names or in double quotes" if tok.kind == "str" else ""
        raise self.error(tok, f"expected a field name, found {tok.describe()}{hint}")

    def predicate(self, path: _Path) -> _Node:
        tok = self.take()
        if tok.kind == "op":
            value_tok = self.peek()
            value = self.literal(f"after '{tok.text}'")
            if tok.text in ("=", "=="):
                return _Compare(path, "=", value)
            if tok.text == "!=":
                return _Not(_Compare(path, "=", value))
            if value is None or isinstance(value, bool):
                raise self.error(value_tok, f"'{tok.text}' compares numbers or strings, not {value_tok.text}; use = or "
                                            "!= for true, false and null")
            return _Compare(path, tok.text, value)
        if tok.is_kw("in"):
            return _In(path, self.value_list())
        if tok.is_kw("not"):
            nxt = self.take()
            if not nxt.is_kw("in"):
                raise self.error(nxt, f"expected 'in' after 'not' (field not in [...]), found {nxt.describe()}; "
                                      "to negate a condition, put not before it: not field = value")
            return _Not(_In(path, self.value_list()))
        if tok.is_kw("exists"):
            raise self.error(tok, f"write exists before the field: exists {_format_path(path)}")
        raise self.error(tok, f"expected an operator after the field {_format_path(path)} (one of = != < <= > >= "
                              f"in, not in), found {tok.describe()}")

    def literal(self, where: str) -> Scalar:
        tok = self.take()
        if tok.kind in ("str", "num"):
            return tok.value
        if tok.kind == "name":
            low = tok.text.lower()
            if low in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[low]
            if low not in _KEYWORDS:
                raise self.error(tok, f"expected a value {where}, found {tok.describe()}; quote strings: "
                                      f"'{tok.text}'")
        if tok.is_punct("["):
            raise self.error(tok, "a list of values is only allowed after in / not in")
        raise self.error(tok, f"expected a value {where} (a string, a number, true, false or null), "
                              f"found {tok.describe()}")

    def value_list(self) -> tuple[Scalar, ...]:
        tok = self.take()
        if not tok.is_punct("["):
            raise self.error(tok, f"expected '[' to start the list of values, as in field in [\"a\", \"b\"], "
                                  f"found {tok.describe()}")
        values: list[Scalar] = []
        if self.peek().is_punct("]"):
            self.take()
            return ()
        while True:
            values.append(self.literal("in the list"))
            sep = self.take()
            if sep.is_punct("]"):
                return tuple(values)
            if not sep.is_punct(","):
                raise self.error(sep, f"expected ',' or ']' in the list of values, found {sep.describe()}")
            if self.peek().is_punct("]"):  # a trailing comma
                self.take()
                return tuple(values)


@lru_cache(maxsize=256)
def _parse_text(text: str) -> _Node:
    return _Parser(text).parse()


# ---------------------------------------------------------------------------------------- dict form

_DICT_OPS: Final = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin", "$exists")
_DICT_ORDER: Final = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
_OPERATOR_RE: Final = re.compile(r"\$[A-Za-z]+")  # a top-level key that looks like $or, $and...


def _scalar(value: object, key: str) -> Scalar:
    """Check one value of a dict filter: a JSON scalar that SQLite can bind."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if _utf8_error_pos(value) is not None:
            raise InvalidInputError(f"filter on {key!r}: the value {value!r} contains a lone surrogate")
        return value
    if isinstance(value, numbers.Integral):
        if not _INT64_MIN <= int(value) <= _INT64_MAX:
            raise InvalidInputError(f"filter on {key!r}: the integer {value} does not fit in 64 bits")
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise InvalidInputError(f"filter on {key!r}: {value!r} is not a finite number; JSON has no NaN or inf")
        return float(value)
    raise InvalidInputError(f"filter on {key!r}: unsupported value {value!r} of type {type(value).__name__}; "
                            "expected a string, an int, a float, a bool or None")


def _dict_op(key: str, op: object, arg: object) -> _Node:
    path = (key,)
    if op in ("$eq", "$ne"):
        eq = _Compare(path, "=", _scalar(arg, key))
        return eq if op == "$eq" else _Not(eq)
    if isinstance(op, str) and op in _DICT_ORDER:
        value = _scalar(arg, key)
        if value is None or isinstance(value, bool):
            raise InvalidInputError(f"filter on {key!r}: {op} compares numbers or strings, not {value!r}")
        return _Compare(path, _DICT_ORDER[op], value)
    if op in ("$in", "$nin"):
        if not isinstance(arg, list | tuple | set | frozenset):
            raise InvalidInputError(f"filter on {key!r}: {op} takes a list of values, got {arg!r}")
        node: _Node = _In(path, tuple(_scalar(v, key) for v in arg))
        return node if op == "$in" else _Not(node)
    if op == "$exists":
        if not isinstance(arg, bool):
            raise InvalidInputError(f"filter on {key!r}: $exists takes True or False, got {arg!r}")
        return _Exists(path) if arg else _Not(_Exists(path))
    raise InvalidInputError(f"filter on {key!r}: unknown operator {op!r}; the operators are {', '.join(_DICT_OPS)} "
                            "(equality with an object is not supported)")


def _from_mapping(where: Mapping[object, object]) -> _Node:
    args: list[_Node] = []
    for key, value in where.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"the keys of a filter dict are metadata keys (strings), got {key!r}")
        if _utf8_error_pos(key) is not None:
            raise InvalidInputError(f"the filter key {key!r} contains a lone surrogate")
        if _OPERATOR_RE.fullmatch(key):
            raise InvalidInputError(
                f"{key!r}: a dict filter is a conjunction of conditions on metadata keys and takes no top-level "
                "operators such as $or; write a string filter for or/not, as in where='a = 1 or b = 2' (a metadata key "
                "named like an operator can be named in a string filter, in double quotes)"
            )
        if isinstance(value, Mapping):
            if not value:
                raise InvalidInputError(f"filter on {key!r}: an empty dict of operators; expected e.g. "
                                        "{'$gte': 2000}")
            args.extend(_dict_op(key, op, arg) for op, arg in value.items())
        elif isinstance(value, list | tuple | set | frozenset):
            raise InvalidInputError(f"filter on {key!r}: a list value is ambiguous; to match any of the values, "
                                    f"write {{{key!r}: {{'$in': [...]}}}}")
        else:
            args.append(_Compare((key,), "=", _scalar(value, key)))
    return args[0] if len(args) == 1 else _And(tuple(args))


def _to_node(where: object) -> _Node:
    if where is None:
        return _And(())
    if isinstance(where, Filter):
        return where.node
    if isinstance(where, str):
        return _parse_text(where)
    if isinstance(where, Mapping):
        return _from_mapping(where)
    raise TypeError(f"where must be a filter string, a dict, a Filter or None, got {type(where).__name__}")


# ------------------------------------------------------------------------------------------ printer


def _quote(text: str, quote: str = '"') -> str:
    out = [quote]
    for ch in text:
        if ch in (quote, "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append(quote)
    return "".join(out)


def _format_path(path: _Path) -> str:
    return ".".join(n if _IDENT_RE.fullmatch(n) and n.lower() not in _KEYWORDS else _quote(n) for n in path)


def _format_value(value: Scalar) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    return repr(value)


def _format(node: _Node, parent: int = 0) -> str:
    """Canonical text of ``node``; ``parent`` is the precedence around it (0 or, 1 and, 2 not)."""
    if isinstance(node, _Exists):
        return f"exists {_format_path(node.path)}"
    if isinstance(node, _Compare):
        return f"{_format_path(node.path)} {node.op} {_format_value(node.value)}"
    if isinstance(node, _In):
        return f"{_format_path(node.path)} in [{', '.join(_format_value(v) for v in node.values)}]"
    if isinstance(node, _Not):
        arg = node.arg
        if isinstance(arg, _Compare) and arg.op == "=":
            return f"{_format_path(arg.path)} != {_format_value(arg.value)}"
        if isinstance(arg, _In):
            return f"{_format_path(arg.path)} not in [{', '.join(_format_value(v) for v in arg.values)}]"
        return f"not {_format(arg, 2)}"
    if not node.args:
        return "" if isinstance(node, _And) else "x in []"  # an empty or is never true
    prec, word = (1, " and ") if isinstance(node, _And) else (0, " or ")
    text = word.join(_format(a, prec) for a in node.args)
    return f"({text})" if parent > prec else text


# ---------------------------------------------------------------------------------------- evaluator

_MISSING: Final = object()
_PY_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _json_type(value: object) -> str:
    """The name SQLite's json_type gives the JSON form of ``value``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "other"


def _lookup(metadata: object, path: _Path) -> object:
    current = metadata
    for name in path:
        if not isinstance(current, Mapping) or name not in current:
            return _MISSING
        current = current[name]
    return current


def _compare(value: object, op: str, literal: Scalar) -> bool:
    have, want = _json_type(value), _json_type(literal)
    if want in _NUMBER_TYPES:
        return have in _NUMBER_TYPES and _PY_ORDER[op](value, literal)
    if want == "text":
        return have == "text" and _PY_ORDER[op](value, literal)
    return have == want  # true, false, null: equality only (the parser refuses ordering)


def _evaluate(node: _Node, metadata: object) -> bool:
    if isinstance(node, _And):
        return all(_evaluate(a, metadata) for a in node.args)
    if isinstance(node, _Or):
        return any(_evaluate(a, metadata) for a in node.args)
    if isinstance(node, _Not):
        return not _evaluate(node.arg, metadata)
    value = _lookup(metadata, node.path)
    if isinstance(node, _Exists):
        return value is not _MISSING
    if value is _MISSING:
        return False
    if isinstance(node, _Compare):
        return _compare(value, node.op, node.value)
    return any(_compare(value, "=", v) for v in node.values)


# ----------------------------------------------------------------------------------------- compiler

_COLUMN_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
# Columns of json_each(): an unqualified column of the same name would resolve to them inside our subqueries.
_JSON_EACH_COLUMNS: Final = frozenset({"key", "value", "type", "atom", "id", "parent", "fullkey", "path", "json",
                                       "root"})
# Keys that SQLite's JSON path can name inside "...": printable ASCII without " and \. These are stored
# verbatim by every JSON writer (Python's json.dumps escapes only ", \, controls and, by default, non-ASCII),
# and SQLite <= 3.44 compares path labels with the raw, still-escaped key text. Other keys are looked up
# with json_each, which decodes the keys.
_PATH_SAFE_RE: Final = re.compile(r"[ !#-\[\]-~]+")
_SQL_OPS: Final = {"=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True, slots=True)
class _Frag:
    """A piece of SQL and the parameters of its ``?`` placeholders, in order."""

    sql: str
    params: tuple[Scalar, ...] = ()


def _cat(*parts: str | _Frag) -> _Frag:
    """Concatenate SQL pieces: plain strings are constants of this module, never user input."""
    sql: list[str] = []
    params: list[Scalar] = []
    for part in parts:
        if isinstance(part, str):
            sql.append(part)
        else:
            sql.append(part.sql)
            params.extend(part.params)
    return _Frag("".join(sql), tuple(params))


def _param(value: Scalar) -> _Frag:
    return _Frag("?", (value,))


def _balanced(frags: list[_Frag], word: str) -> _Frag:
    """``a word b word c ...`` in groups of at most 4 terms, nested as a balanced tree.

    A long flat chain would exceed SQLite's expression depth limit (1000) and a binary tree would
    nest parentheses 2 levels per 4 terms; this nests 1 level per 4 terms, and log4(n) in all.
    """
    if len(frags) == 1:
        return frags[0]
    if len(frags) > 4:
        size = -(-len(frags) // 4)
        frags = [_balanced(frags[i : i + size], word) for i in range(0, len(frags), size)]
    parts: list[str | _Frag] = ["("]
    for i, frag in enumerate(frags):
        parts += [f" {word} ", frag] if i else [frag]
    return _cat(*parts, ")")


def _max_nesting(sql: str) -> int:
    """How deep the parentheses of ``sql`` nest (its only string constants, type names, have none)."""
    depth = deepest = 0
    for ch in sql:
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


def _is_number(jtype: _Frag) -> _Frag:
    return _cat("COALESCE(", jtype, ", '') IN ('integer', 'real')")  # never NULL, unlike a bare IN


def _compare_sql(op: str, literal: Scalar, jtype: _Frag, value: _Frag) -> _Frag:
    """True where the JSON value of type ``jtype`` (NULL: missing) and SQL value ``value`` satisfies ``op literal``."""
    if literal is None or isinstance(literal, bool):
        name = "null" if literal is None else ("true" if literal else "false")
        return _cat("(", jtype, f" IS '{name}')")
    check = _cat(jtype, " IS 'text'") if isinstance(literal, str) else _is_number(jtype)
    # once the type check holds, the value is not NULL, so the whole is 0 or 1, never NULL
    return _cat("(", check, " AND ", value, f" {_SQL_OPS[op]} ", _param(literal), ")")


def _in_sql(values: tuple[Scalar, ...], jtype: _Frag, value: _Frag) -> _Frag:
    texts = [v for v in values if isinstance(v, str)]
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    consts = sorted({_json_type(v) for v in values if v is None or isinstance(v, bool)})
    parts: list[_Frag] = []
    if texts:
        parts.append(_cat("(", jtype, " IS 'text' AND ", value, " IN (", _holes(texts), "))"))
    if nums:
        parts.append(_cat("(", _is_number(jtype), " AND ", value, " IN (", _holes(nums), "))"))
    if consts:
        parts.append(_cat("COALESCE(", jtype, ", '') IN (", ", ".join(f"'{c}'" for c in consts), ")"))
    return _balanced(parts, "OR") if parts else _Frag("0")


def _holes(values: list[Any]) -> _Frag:
    """The inside of ``IN (...)``: one ``?`` per value, or beyond :data:`BULK_MIN` values a subquery over
    one JSON array parameter (json_each yields its strings as text, its numbers as integer/real)."""
    if len(values) <= BULK_MIN:
        return _Frag(", ".join("?" * len(values)), tuple(values))
    return _Frag("SELECT value FROM json_each(?)", (json.dumps(values, allow_nan=False),))


def _type_class(jtype: str) -> str:
    """SQL folding json_each's ``type`` so that equal filter and metadata values fall in one class."""
    return f"CASE WHEN {jtype} IN ('integer', 'real') THEN 'number' ELSE {jtype} END"


def _bulk_equalities(eqs: list[_Compare], col: str, conjunction: bool) -> _Frag:
    """Equalities with text, number or true/false literals on distinct top-level keys, joined by and
    (``conjunction``) or or: counts the metadata entries whose (key, value, type class) is among the
    filter's, read from one JSON object parameter; all of them (and) or at least one (or) must be."""
    obj = json.dumps({e.path[0]: e.value for e in eqs}, allow_nan=False)
    count = _cat(f"(SELECT count(*) FROM json_each({col}) AS _jm WHERE (_jm.key, _jm.value, "
                 f"{_type_class('_jm.type')}) IN (SELECT _jf.key, _jf.value, {_type_class('_jf.type')} "
                 "FROM json_each(", _param(obj), ") AS _jf))")
    return _cat("(", count, " = ", _param(len(eqs)), ")") if conjunction else _cat("(", count, " > 0)")


def _bulk_candidate(node: _Node) -> bool:
    return (isinstance(node, _Compare) and node.op == "=" and len(node.path) == 1 and node.value is not None)


_Condition: TypeAlias = Callable[[_Frag, _Frag], _Frag]


class _Compiler:
    def __init__(self, column: str) -> None:
        if not isinstance(column, str) or not _COLUMN_RE.fullmatch(column):
            raise InvalidInputError(f"column must be a plain SQL column name such as 'metadata' or "
                                    f"'items.metadata', got {column!r}")
        if column.lower() in _JSON_EACH_COLUMNS:
            raise InvalidInputError(f"the column name {column!r} is also a column of SQLite's json_each, which "
                                    f"the filter uses; qualify it with its table, as in 'items.{column}'")
        self.column = column

    def node(self, node: _Node, negate: bool = False) -> tuple[_Frag, int]:
        """The SQL of ``node`` (of ``not node`` if ``negate``) and its nesting depth.

        Negations are pushed down to the conditions (De Morgan: the logic is two-valued), and the
        operands of and/or are emitted deepest first. SQLite's parser (a fixed stack of 100 entries in
        3.40) then holds about one entry per level of nesting instead of three or four.
        """
        if isinstance(node, _Not):
            return self.node(node.arg, not negate)
        if isinstance(node, _And | _Or):
            conjunction = isinstance(node, _And) != negate
            if not node.args:
                return _Frag("1" if conjunction else "0"), 0
            args, bulk = list(node.args), None
            if sum(map(_bulk_candidate, args)) > BULK_MIN:
                eqs: dict[str, _Compare] = {}
                rest: list[_Node] = []
                for a in args:
                    if isinstance(a, _Compare) and _bulk_candidate(a) and a.path[0] not in eqs:
                        eqs[a.path[0]] = a
                    else:
                        rest.append(a)
                if len(eqs) > BULK_MIN:
                    frag = _bulk_equalities(list(eqs.values()), self.column, isinstance(node, _And))
                    bulk, args = (_cat("(NOT ", frag, ")") if negate else frag), rest
            parts = sorted((self.node(a, negate) for a in args), key=lambda part: -part[1])
            if bulk is not None:
                parts.append((bulk, 1))
            return _balanced([frag for frag, _ in parts], "AND" if conjunction else "OR"), parts[0][1] + 1
        if isinstance(node, _Exists):
            frag = self.access(node.path, None)
        elif isinstance(node, _Compare):
            op, literal = node.op, node.value
            frag = self.access(node.path, lambda t, v: _compare_sql(op, literal, t, v))
        else:
            values = node.values
            frag = self.access(node.path, lambda t, v: _in_sql(values, t, v))
        return (_cat("(NOT ", frag, ")") if negate else frag), 0

    def access(self, path: _Path, condition: _Condition | None) -> _Frag:
        """``condition(json_type, value)`` of the value at ``path``; ``None``: whether the path exists."""
        col = self.column
        if all(_PATH_SAFE_RE.fullmatch(name) for name in path):
            json_path = "$" + "".join(f'."{name}"' for name in path)
            jtype = _cat(f"json_type({col}, ", _param(json_path), ")")
            if condition is None:
                return _cat("(", jtype, " IS NOT NULL)")
            return condition(jtype, _cat(f"json_extract({col}, ", _param(json_path), ")"))
        # one json_each per level; a level that is not an object gives json_each(NULL): no rows
        tables = [f"json_each({col}) AS _je1"]
        tables += [f"json_each(CASE WHEN _je{i}.type = 'object' THEN _je{i}.value END) AS _je{i + 1}"
                   for i in range(1, len(path))]
        keys = [_cat(f"_je{i + 1}.key = ", _param(name)) for i, name in enumerate(path)]
        last = f"_je{len(path)}"
        if condition is not None:
            keys.append(condition(_Frag(f"{last}.type"), _Frag(f"{last}.value")))
        where = _cat(*[part for i, k in enumerate(keys) for part in ((" AND ", k) if i else (k,))])
        return _cat(f"EXISTS (SELECT 1 FROM {', '.join(tables)} WHERE ", where, ")")


# ------------------------------------------------------------------------------------------- public


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A filter compiled to a boolean SQLite expression and its parameters.

    Attributes
    ----------
    sql : str
        A boolean expression over the JSON metadata column, to use as ``WHERE {sql}`` (or combined
        with ``AND``). It contains ``?`` placeholders only: no value or key of the filter is ever
        part of this text. The expression is always 0 or 1, never NULL. ``"1"`` matches everything.
    params : tuple
        The values of the placeholders, in order: strings, ints, floats and JSON paths.
    """

    sql: str
    params: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed metadata filter: parse once, then compile or evaluate many times.

    Build one with :func:`parse_filter`. ``str(filter)`` is its canonical text, which parses back
    to the same filter (the empty string for the filter that matches everything).
    """

    node: _Node

    def matches(self, metadata: Mapping[str, object] | None) -> bool:
        """Whether ``metadata`` (a JSON object as a dict; ``None``: no metadata) satisfies the filter."""
        return _evaluate(self.node, {} if metadata is None else metadata)

    def fields(self) -> frozenset[str]:
        """The top-level metadata fields the filter names (``{"tags"}`` for ``tags.group = 1``).

        >>> sorted(parse_filter('lang = "en" and (year > 2000 or exists tags.group)').fields())
        ['lang', 'tags', 'year']
        """
        out: set[str] = set()
        stack: list[_Node] = [self.node]
        while stack:
            node = stack.pop()
            if isinstance(node, _And | _Or):
                stack.extend(node.args)
            elif isinstance(node, _Not):
                stack.append(node.arg)
            elif node.path:
                out.add(node.path[0])
        return frozenset(out)

    def compile(self, *, column: str = "metadata") -> CompiledFilter:
        """The filter as parameterised SQL over the JSON column ``column`` (see :func:`compile_filter`)."""
        frag, _ = _Compiler(column).node(self.node)
        nesting = _max_nesting(frag.sql)
        if nesting > MAX_SQL_NESTING:
            raise InvalidInputError(f"the filter is too deeply nested to run in SQLite: its SQL nests {nesting} levels "
                                    f"of parentheses, at most {MAX_SQL_NESTING} are allowed; flatten it, e.g. with "
                                    "'field in [...]' instead of long chains of or")
        if len(frag.params) > MAX_SQL_PARAMS:
            raise InvalidInputError(f"the filter compiles to {len(frag.params):,} SQL parameters, at most "
                                    f"{MAX_SQL_PARAMS:,} are allowed; write long lists of values as 'field in [...]' "
                                    "(or {'field': {'$in': [...]}}), which take any number of values")
        return CompiledFilter(frag.sql, frag.params)

    def __str__(self) -> str:
        return _format(self.node)

    def __repr__(self) -> str:
        return f"Filter({_format(self.node)!r})"


#: What every ``where=`` takes: a string in the filter language, a dict of conditions, an already
#: parsed :class:`Filter`, or None (no filter: everything matches). See docs/filters.md.
FilterLike: TypeAlias = str | Mapping[str, FilterValue] | Filter | None


def parse_filter(where: FilterLike) -> Filter:
    """Parse a filter string or dict into a :class:`Filter`.

    Parameters
    ----------
    where : str, dict, Filter or None
        A string in the filter language (``'lang = "en" and year >= 2000'``, see docs/filters.md),
        a dict of equalities with optional operators (``{"lang": "en", "year": {"$gte": 2000}}``),
        an already parsed :class:`Filter` (returned as is), or ``None`` for no filter (matches
        every item).

    Returns
    -------
    Filter

    Raises
    ------
    InvalidInputError
        On a syntax error (the message gives the column and shows it under a caret), on a value
        that JSON or SQLite cannot represent (an integer beyond 64 bits, NaN, a lone surrogate), on
        an ordering comparison with true/false/null, or on an unknown or misused dict operator.
    TypeError
        If ``where`` is of another type.
    """
    return where if isinstance(where, Filter) else Filter(_to_node(where))


def compile_filter(where: FilterLike, *, column: str = "metadata") -> CompiledFilter:
    """Compile a filter into a parameterised boolean SQLite expression over a JSON column.

    Parameters
    ----------
    where : str, dict, Filter or None
        The filter (see :func:`parse_filter`). ``None`` compiles to ``"1"`` (everything).
    column : str, default "metadata"
        The SQL column holding one JSON object per row, optionally qualified by its table
        (``"items.metadata"``). It is the only name put into the SQL text, so it must be a plain
        identifier; it must be qualified if its name is also a column of ``json_each``
        (``key``, ``value``, ``type``...). A NULL column is treated as ``{}``.

    Returns
    -------
    CompiledFilter
        ``sql`` and ``params``: use as ``conn.execute(f"SELECT ... WHERE {c.sql}", (*before, *c.params))``.
        The SQL uses ``json_type``/``json_extract`` with the JSON path as a bound parameter, or
        ``json_each`` for keys a JSON path cannot name reliably (non-ASCII, quotes, backslashes).

    Raises
    ------
    InvalidInputError
        On an invalid filter (see :func:`parse_filter`) or column name.

    Examples
    --------
    >>> c = compile_filter({"lang": "en"})
    >>> c.sql
    "(json_type(metadata, ?) IS 'text' AND json_extract(metadata, ?) = ?)"
    >>> c.params
    ('$."lang"', '$."lang"', 'en')
    """
    return parse_filter(where).compile(column=column)


def matches(where: FilterLike, metadata: Mapping[str, object] | None) -> bool:
    """Whether ``metadata`` satisfies the filter ``where``: the pure-Python twin of :func:`compile_filter`.

    Parameters
    ----------
    where : str, dict, Filter or None
        The filter (see :func:`parse_filter`; strings are parsed once and cached). ``None``
        matches everything.
    metadata : dict or None
        One item's metadata, a JSON object as :func:`json.loads` returns it. ``None`` is ``{}``.

    Returns
    -------
    bool
        The same answer as the compiled SQL gives for the same metadata stored as JSON.
    """
    return parse_filter(where).matches(metadata)
