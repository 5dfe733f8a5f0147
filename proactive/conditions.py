"""Monitor conditions: a small, safe expression language, parsed by us.

A condition is compiled once when a monitor is saved (:func:`compile_condition`) and
evaluated against the values a probe returned (:meth:`Condition.evaluate`)::

    value > 150 and status == 200
    latency_ms >= 500
    "error" in body
    1 < value * 1.1 <= threshold
    status in [500, 502, 503] or not ok
    json.data.items.0.name == "AAPL" and matches(body, "price: \\d+")

The source text is tokenised and parsed by hand into a tiny tree of our own node classes;
it is never given to ``eval``, ``exec``, ``compile`` or ``ast``.  Nothing in the language
reaches Python attributes: a dotted name only walks dict keys and list indexes of the
values handed in, and the only callables are the few functions in :data:`FUNCTIONS`.

Grammar, loosest binding first::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") sum)*
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | primary
    primary    := NUMBER | STRING | true | false | null | NAME | NAME "(" args ")"
                | "(" expr ")" | "[" [expr ("," expr)*] "]"

Comparisons chain as in Python (``1 < value < 5`` means ``1 < value and value < 5``).
``True`` / ``False`` / ``None`` are accepted as spellings of ``true`` / ``false`` / ``null``.

Semantics, chosen to fail loudly rather than guess:

* ``and`` / ``or`` short-circuit, so ``count > 0 and value > 150`` is safe when ``value``
  is null; any value has a truth value (Python's rules: 0, "", [], {}, null are false).
* ``<`` ``<=`` ``>`` ``>=`` compare numbers with numbers and strings with strings; anything
  else (including null, e.g. a probe that got no value) is a :class:`ConditionError`, not a
  silent false, so a monitor records a failed check instead of a wrong answer.
* ``==`` / ``!=`` compare anything; ``1 == "1"`` is false.
* ``x in y``: substring when ``y`` is a string, membership for a list, key for an object.
* ``+ - * /`` on numbers (``+`` also joins two strings); dividing by zero is an error.
* A missing name, or a missing key / index on the way down a dotted name, is an error.

Limits: :data:`MAX_LENGTH` characters of source and :data:`MAX_DEPTH` levels of nesting;
``matches()`` compiles at most :data:`MAX_REGEX_LENGTH` characters of pattern, refuses nested
repetition like ``(a+)+`` (:func:`regex_problem`) and searches at most :data:`MAX_MATCH_INPUT`
characters of text, to bound backtracking (Python's ``re`` has no timeout).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Condition",
    "ConditionError",
    "compile_condition",
    "regex_problem",
]

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_REGEX_LENGTH = 200
MAX_MATCH_INPUT = 20_000
# Longest value quoted back in an error message.
_MAX_SHOWN = 40


class ConditionError(ValueError):
    """The condition cannot be compiled or evaluated.

    ``column`` is the 1-based position in the source the problem was found at, when there
    is one; it is also part of the message.
    """

    def __init__(self, message: str, *, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------- tokens

_NUMBER = "number"
_STRING = "string"
_NAME = "name"
_CONST = "constant"
_OP = "op"
_END = "end"

_KEYWORDS = {"and", "or", "not", "in"}
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
# Python words someone may try; refused by name with a hint instead of a puzzling parse error.
_UNSUPPORTED_WORDS = {
    "is": "use '==' or '!='",
    "lambda": "",
    "import": "",
    "def": "",
    "class": "",
    "if": "",
    "else": "",
    "elif": "",
    "for": "",
    "while": "",
    "yield": "",
    "await": "",
    "async": "",
    "del": "",
    "global": "",
    "nonlocal": "",
    "from": "",
    "as": "",
    "with": "",
    "return": "",
    "pass": "",
    "raise": "",
    "try": "",
    "except": "",
    "finally": "",
    "assert": "",
    "break": "",
    "continue": "",
}
_TWO_CHAR_OPS = ("==", "!=", "<=", ">=")
_ONE_CHAR_OPS = "<>+-*/(),[]"
_MISTAKES = {
    "=": "use '==' to compare",
    "!": "use 'not' or '!='",
    "&": "use 'and'",
    "|": "use 'or'",
    "%": "",
    "^": "",
    "~": "",
    ".": "dots only join the parts of a name, like json.data.price",
    ":": "",
    ";": "",
    "{": "",
    "}": "",
    "@": "",
    "`": "",
    "\\": "",
}
_NAME_PART = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME_RE = re.compile(rf"{_NAME_PART}(?:\.(?:{_NAME_PART}|[0-9]+))*")
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True)
class _Token:
    kind: str
    value: Any
    column: int  # 1-based
    text: str


def _describe_token(token: _Token) -> str:
    if token.kind == _END:
        return "end of condition"
    if token.kind == _STRING:
        return f"string {_shorten(token.text)}"
    if token.kind == _NUMBER:
        return f"number {token.text}"
    return f"'{token.text}'"


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    length = len(source)
    while pos < length:
        char = source[pos]
        column = pos + 1
        if char.isspace():
            pos += 1
            continue
        if char in "'\"":
            value, end = _read_string(source, pos)
            tokens.append(_Token(_STRING, value, column, source[pos:end]))
            pos = end
            continue
        if char.isdigit():
            match = _NUMBER_RE.match(source, pos)
            assert match is not None
            end = match.end()
            if end < length and (source[end].isalnum() or source[end] in "_."):
                raise ConditionError(f"invalid number at column {column}", column=column)
            text = match.group()
            is_float = any(c in text for c in ".eE")
            try:
                value: Any = float(text) if is_float else int(text)
            except ValueError:  # pragma: no cover - the pattern only matches valid numbers
                raise ConditionError(f"invalid number at column {column}", column=column)
            if is_float and not math.isfinite(value):
                raise ConditionError(f"number too large at column {column}", column=column)
            tokens.append(_Token(_NUMBER, value, column, text))
            pos = end
            continue
        if char.isalpha() or char == "_":
            match = _NAME_RE.match(source, pos)
            assert match is not None
            text = match.group()
            end = match.end()
            if end < length and source[end] == ".":
                raise ConditionError(
                    f"unexpected '.' at column {end + 1} (a name part is a word or a number)", column=end + 1
                )
            tokens.append(_word_token(text, column))
            pos = end
            continue
        two = source[pos : pos + 2]
        if two in _TWO_CHAR_OPS:
            tokens.append(_Token(_OP, two, column, two))
            pos += 2
            continue
        if char in _ONE_CHAR_OPS:
            tokens.append(_Token(_OP, char, column, char))
            pos += 1
            continue
        hint = _MISTAKES.get(char, "")
        if two in ("&&", "||", "**", "//"):
            hint = {"&&": "use 'and'", "||": "use 'or'"}.get(two, "")
            char = two
        shown = repr(char) if char.isprintable() else f"U+{ord(char[0]):04X}"
        suffix = f" ({hint})" if hint else ""
        raise ConditionError(f"unexpected character {shown} at column {column}{suffix}", column=column)
    tokens.append(_Token(_END, None, length + 1, ""))
    return tokens


def _word_token(text: str, column: int) -> _Token:
    parts = text.split(".")
    if text in _KEYWORDS:
        return _Token(_OP, text, column, text)
    if text in _CONSTANTS:
        return _Token(_CONST, _CONSTANTS[text], column, text)
    if parts[0] in _KEYWORDS or parts[0] in _CONSTANTS:
        raise ConditionError(f"'{parts[0]}' cannot start a dotted name (at column {column})", column=column)
    if parts[0] in _UNSUPPORTED_WORDS:
        hint = _UNSUPPORTED_WORDS[parts[0]]
        suffix = f" ({hint})" if hint else ""
        raise ConditionError(f"'{parts[0]}' is not supported (at column {column}){suffix}", column=column)
    for part in parts:
        if part.startswith("__"):
            raise ConditionError(f"names may not start with '__': '{_shorten(text)}' at column {column}", column=column)
    return _Token(_NAME, tuple(parts), column, text)


def _read_string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    pos = start + 1
    chars: list[str] = []
    while pos < len(source):
        char = source[pos]
        if char == quote:
            return "".join(chars), pos + 1
        if char == "\\":
            if pos + 1 >= len(source):
                break
            nxt = source[pos + 1]
            if nxt in _ESCAPES:
                chars.append(_ESCAPES[nxt])
                pos += 2
                continue
            if nxt == "u":
                digits = source[pos + 2 : pos + 6]
                if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise ConditionError(
                        f"invalid \\u escape at column {pos + 1} (use four hex digits)", column=pos + 1
                    )
                chars.append(chr(int(digits, 16)))
                pos += 6
                continue
            # Unknown escapes keep their backslash, as in Python, so regexes read naturally.
            chars.append(char)
            chars.append(nxt)
            pos += 2
            continue
        chars.append(char)
        pos += 1
    raise ConditionError(f"unterminated string starting at column {start + 1}", column=start + 1)


# --------------------------------------------------------------------------- tree


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(_shorten(value))
    if isinstance(value, int | float):
        return _shorten(repr(value))
    return _type_name(value)


def _describe(value: Any) -> str:
    """``number 3``, ``string 'abc'``, ``null``: for error messages."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return _show(value)
    return f"{_type_name(value)} {_show(value)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Node:
    column: int

    def eval(self, values: Mapping[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def error(self, message: str) -> ConditionError:
        return ConditionError(f"{message} (at column {self.column})", column=self.column)


class _Literal(_Node):
    def __init__(self, value: Any, column: int) -> None:
        self.value = value
        self.column = column

    def eval(self, values: Mapping[str, Any]) -> Any:
        return self.value


class _Name(_Node):
    def __init__(self, parts: tuple[str, ...], column: int) -> None:
        self.parts = parts
        self.column = column

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)

    def eval(self, values: Mapping[str, Any]) -> Any:
        root = self.parts[0]
        if root not in values:
            known = ", ".join(sorted(str(k) for k in values)) or "none"
            raise self.error(f"no value named '{root}' (available: {known})")
        current = values[root]
        for depth, part in enumerate(self.parts[1:], start=1):
            walked = ".".join(self.parts[:depth])
            if isinstance(current, Mapping):
                if part not in current:
                    raise self.error(f"'{walked}' has no key '{part}'")
                current = current[part]
            elif isinstance(current, list | tuple):
                if not part.isdigit():
                    raise self.error(f"'{walked}' is a list: use a number, not '{part}'")
                index = int(part)
                if index >= len(current):
                    raise self.error(f"'{walked}' has {len(current)} item(s), no index {index}")
                current = current[index]
            else:
                raise self.error(f"cannot look up '{part}' in '{walked}', which is {_type_name(current)}")
        return current


class _List(_Node):
    def __init__(self, items: list[_Node], column: int) -> None:
        self.items = items
        self.column = column

    def eval(self, values: Mapping[str, Any]) -> Any:
        return [item.eval(values) for item in self.items]


class _Not(_Node):
    def __init__(self, operand: _Node, column: int) -> None:
        self.operand = operand
        self.column = column

    def eval(self, values: Mapping[str, Any]) -> Any:
        return not _truth(self.operand.eval(values))


class _Negate(_Node):
    def __init__(self, op: str, operand: _Node, column: int) -> None:
        self.op = op
        self.operand = operand
        self.column = column

    def eval(self, values: Mapping[str, Any]) -> Any:
        value = self.operand.eval(values)
        if not _is_number(value):
            raise self.error(f"'{self.op}' needs a number, got {_describe(value)}")
        return -value if self.op == "-" else value


class _BoolOp(_Node):
    """``a and b and c`` / ``a or b``: operands kept flat, so long chains do not recurse."""

    def __init__(self, op: str, operands: list[_Node], column: int) -> None:
        self.op = op
        self.operands = operands
        self.column = column

    def eval(self, values: Mapping[str, Any]) -> Any:
        want = self.op == "or"
        for operand in self.operands:
            if _truth(operand.eval(values)) == want:
                return want
        return not want


class _Arith(_Node):
    """``a + b - c`` or ``a * b / c``: one level of precedence, evaluated left to right."""

    def __init__(self, first: _Node, rest: list[tuple[str, _Node, int]], column: int) -> None:
        self.first = first
        self.rest = rest
        self.column = column

    def eval(self, values: Mapping[str, Any]) -> Any:
        result = self.first.eval(values)
        for op, node, column in self.rest:
            result = _arith(op, result, node.eval(values), column)
        return result


class _Compare(_Node):
    def __init__(self, first: _Node, rest: list[tuple[str, _Node, int]], column: int) -> None:
        self.first = first
        self.rest = rest
        self.column = column

    def eval(self, values: Mapping[str, Any]) -> Any:
        left_node, left = self.first, self.first.eval(values)
        for op, node, column in self.rest:
            right = node.eval(values)
            try:
                if not _compare(op, left, right, column):
                    return False
            except ConditionError as exc:
                raise _with_null_hint(exc, left_node if left is None else node if right is None else None)
            left_node, left = node, right
        return True


def _with_null_hint(exc: ConditionError, null_node: _Node | None) -> ConditionError:
    if not isinstance(null_node, _Name):
        return exc
    name = null_node.dotted
    return ConditionError(
        f"{exc.message}; '{name}' is null (the probe gave no value): guard with '{name} != null and ...'",
        column=exc.column,
    )


class _Call(_Node):
    def __init__(self, name: str, args: list[_Node], column: int) -> None:
        self.name = name
        self.args = args
        self.column = column

    def eval(self, values: Mapping[str, Any]) -> Any:
        function = FUNCTIONS[self.name]
        args = [arg.eval(values) for arg in self.args]
        try:
            return function.call(*args)
        except _TypeProblem as exc:
            raise self.error(f"{self.name}(): {exc}")


def _truth(value: Any) -> bool:
    return bool(value)


def _located(message: str, column: int) -> ConditionError:
    return ConditionError(f"{message} (at column {column})", column=column)


def _arith(op: str, left: Any, right: Any, column: int) -> Any:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if not (_is_number(left) and _is_number(right)):
        raise _located(f"cannot apply '{op}' to {_describe(left)} and {_describe(right)}", column)
    try:
        if op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        else:
            if right == 0:
                raise _located("division by zero", column)
            result = left / right
    except OverflowError:
        raise _located(f"number too large in '{op}'", column)
    if isinstance(result, float) and not math.isfinite(result):
        raise _located(f"number too large in '{op}'", column)
    return result


def _compare(op: str, left: Any, right: Any, column: int) -> bool:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op in ("in", "not in"):
        return _contains(right, left, column, op) == (op == "in")
    comparable = (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))
    if not comparable:
        raise _located(f"cannot compare {_describe(left)} with {_describe(right)} using '{op}'", column)
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _equal(left: Any, right: Any) -> bool:
    # true == 1 would be True in Python; in conditions a boolean only equals a boolean.
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    try:
        return bool(left == right)
    except Exception:  # exotic values handed in by a callable probe: unequal, not a crash
        return False


def _contains(container: Any, item: Any, column: int, op: str) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            raise _located(f"'{op}' a string needs a string on the left, got {_describe(item)}", column)
        return item in container
    if isinstance(container, list | tuple):
        return any(_equal(item, element) for element in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    raise _located(f"'{op}' needs a string, list or object on the right, got {_type_name(container)}", column)


# --------------------------------------------------------------------------- functions


class _TypeProblem(Exception):
    pass


@dataclass(frozen=True)
class _Function:
    arity: int
    call: Callable[..., Any]
    doc: str


def _fn_len(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _TypeProblem(f"needs a string, list or object, got {_describe(value)}")


def _fn_abs(value: Any) -> Any:
    if _is_number(value):
        return abs(value)
    raise _TypeProblem(f"needs a number, got {_describe(value)}")


def _fn_lower(value: Any) -> str:
    if isinstance(value, str):
        return value.lower()
    raise _TypeProblem(f"needs a string, got {_describe(value)}")


def _fn_contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str):
        if not isinstance(needle, str):
            raise _TypeProblem(f"looks for a string in a string, got {_describe(needle)}")
        return needle in haystack
    if isinstance(haystack, list | tuple):
        return any(_equal(needle, element) for element in haystack)
    if isinstance(haystack, Mapping):
        return isinstance(needle, str) and needle in haystack
    raise _TypeProblem(f"needs a string, list or object first, got {_describe(haystack)}")


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
# An outer repetition allowing more than this many rounds counts as "repeated" below.
_NESTED_REPEAT_LIMIT = 10


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused as a backtracking risk, or None.

    Python's ``re`` has no timeout, so patterns that repeat an unbounded repetition (``(a+)+``,
    ``(x*y?)*``, ``(\\w+\\s?){20,}``), the classic catastrophic-backtracking shape, are
    refused; together with the capped input this bounds the time a search can take in practice.
    (Polynomial patterns such as ``.*a.*a.*b`` are only bounded by the input cap.)
    """
    try:
        from re import _parser as sre_parse  # the parser behind re.compile (Python 3.11+)

        parsed = sre_parse.parse(pattern)
        unbounded = sre_parse.MAXREPEAT
    except ImportError:  # pragma: no cover - another Python: only the caps apply
        return None
    except re.error as exc:
        return f"invalid regular expression: {exc}"

    def nested(items: Any, inside_repeat: bool) -> bool:
        for op, arg in items:
            name = str(op)
            if name in _REPEATS:
                _low, high, sub = arg
                if inside_repeat and high == unbounded:
                    return True
                if nested(sub, inside_repeat or high == unbounded or high > _NESTED_REPEAT_LIMIT):
                    return True
            elif name in ("SUBPATTERN", "ATOMIC_GROUP", "ASSERT", "ASSERT_NOT"):
                if nested(arg[-1] if isinstance(arg, tuple) else arg, inside_repeat):
                    return True
            elif name == "BRANCH":
                if any(nested(branch, inside_repeat) for branch in arg[1]):
                    return True
            elif name == "GROUPREF_EXISTS":
                if any(branch is not None and nested(branch, inside_repeat) for branch in arg[1:]):
                    return True
        return False

    if nested(parsed, False):
        return "nested repetition such as (a+)+ can take exponential time; repeat a simpler group"
    return None


def _compile_regex(pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise _TypeProblem(f"the pattern must be a string, got {_describe(pattern)}")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise _TypeProblem(f"the pattern is longer than {MAX_REGEX_LENGTH} characters")
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is not None:
        return compiled
    problem = regex_problem(pattern)
    if problem is not None:
        raise _TypeProblem(problem)
    try:
        return _cached_regex(pattern)
    except re.error as exc:
        raise _TypeProblem(f"invalid regular expression: {exc}")


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _cached_regex(pattern: str) -> re.Pattern[str]:
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        compiled = re.compile(pattern)
        if len(_REGEX_CACHE) > 256:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[pattern] = compiled
    return compiled


def _fn_matches(text: Any, pattern: Any) -> bool:
    regex = _compile_regex(pattern)
    if not isinstance(text, str):
        raise _TypeProblem(f"needs a string to search, got {_describe(text)}")
    return regex.search(text[:MAX_MATCH_INPUT]) is not None


FUNCTIONS: dict[str, _Function] = {
    "len": _Function(1, _fn_len, "len(x): length of a string, list or object"),
    "abs": _Function(1, _fn_abs, "abs(n): absolute value"),
    "lower": _Function(1, _fn_lower, "lower(s): the string in lower case"),
    "contains": _Function(2, _fn_contains, "contains(s, sub): substring, or list membership"),
    "matches": _Function(2, _fn_matches, "matches(s, regex): whether the regex is found in s"),
}


# --------------------------------------------------------------------------- parser


_COMPARISON_OPS = {"==", "!=", "<", "<=", ">", ">="}


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.names: list[_Name] = []

    # -- helpers

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def at_op(self, *ops: str) -> bool:
        return self.current.kind == _OP and self.current.value in ops

    def advance(self) -> _Token:
        token = self.current
        if token.kind != _END:
            self.index += 1
        return token

    def unexpected(self, token: _Token | None = None, expected: str = "") -> ConditionError:
        token = token or self.current
        suffix = f" (expected {expected})" if expected else ""
        if token.kind == _END:
            return ConditionError(f"unexpected end of condition at column {token.column}{suffix}", column=token.column)
        return ConditionError(
            f"unexpected {_describe_token(token)} at column {token.column}{suffix}", column=token.column
        )

    def expect(self, op: str) -> _Token:
        if not self.at_op(op):
            raise self.unexpected(expected=f"'{op}'")
        return self.advance()

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(
                f"condition nested too deeply at column {token.column} (the limit is {MAX_DEPTH} levels)",
                column=token.column,
            )

    def leave(self) -> None:
        self.depth -= 1

    # -- grammar

    def parse(self) -> _Node:
        if self.current.kind == _END:
            raise ConditionError("condition is empty", column=1)
        node = self.parse_or()
        if self.current.kind != _END:
            raise self.unexpected(expected="'and', 'or' or the end")
        return node

    def parse_or(self) -> _Node:
        first = self.parse_and()
        operands = [first]
        while self.at_op("or"):
            self.advance()
            operands.append(self.parse_and())
        return first if len(operands) == 1 else _BoolOp("or", operands, first.column)

    def parse_and(self) -> _Node:
        first = self.parse_not()
        operands = [first]
        while self.at_op("and"):
            self.advance()
            operands.append(self.parse_not())
        return first if len(operands) == 1 else _BoolOp("and", operands, first.column)

    def parse_not(self) -> _Node:
        if self.at_op("not"):
            token = self.advance()
            self.enter(token)
            operand = self.parse_not()
            self.leave()
            return _Not(operand, token.column)
        return self.parse_comparison()

    def comparison_op(self) -> tuple[str, int] | None:
        token = self.current
        if token.kind != _OP:
            return None
        if token.value in _COMPARISON_OPS or token.value == "in":
            self.advance()
            return token.value, token.column
        if token.value == "not" and self.peek().kind == _OP and self.peek().value == "in":
            self.advance()
            self.advance()
            return "not in", token.column
        return None

    def parse_comparison(self) -> _Node:
        first = self.parse_sum()
        rest: list[tuple[str, _Node, int]] = []
        while (found := self.comparison_op()) is not None:
            op, column = found
            rest.append((op, self.parse_sum(), column))
        return first if not rest else _Compare(first, rest, first.column)

    def parse_sum(self) -> _Node:
        first = self.parse_product()
        rest: list[tuple[str, _Node, int]] = []
        while self.at_op("+", "-"):
            token = self.advance()
            rest.append((token.value, self.parse_product(), token.column))
        return first if not rest else _Arith(first, rest, first.column)

    def parse_product(self) -> _Node:
        first = self.parse_unary()
        rest: list[tuple[str, _Node, int]] = []
        while self.at_op("*", "/"):
            token = self.advance()
            rest.append((token.value, self.parse_unary(), token.column))
        return first if not rest else _Arith(first, rest, first.column)

    def parse_unary(self) -> _Node:
        if self.at_op("-", "+"):
            token = self.advance()
            self.enter(token)
            operand = self.parse_unary()
            self.leave()
            if isinstance(operand, _Literal):
                if not _is_number(operand.value):
                    raise ConditionError(
                        f"'{token.value}' needs a number, got {_show(operand.value)} (at column {token.column})",
                        column=token.column,
                    )
                # Fold "-5" into a literal so negative numbers are plain constants.
                return _Literal(-operand.value if token.value == "-" else operand.value, token.column)
            return _Negate(token.value, operand, token.column)
        return self.parse_primary()

    def parse_primary(self) -> _Node:
        token = self.current
        if token.kind in (_NUMBER, _STRING, _CONST):
            self.advance()
            return _Literal(token.value, token.column)
        if token.kind == _NAME:
            self.advance()
            if self.at_op("("):
                return self.parse_call(token)
            node = _Name(token.value, token.column)
            self.names.append(node)
            return node
        if self.at_op("("):
            self.advance()
            self.enter(token)
            if self.at_op(")"):
                raise self.unexpected(expected="an expression inside the parentheses")
            node = self.parse_or()
            self.expect(")")
            self.leave()
            return node
        if self.at_op("["):
            self.advance()
            self.enter(token)
            items: list[_Node] = []
            if not self.at_op("]"):
                items.append(self.parse_or())
                while self.at_op(","):
                    self.advance()
                    items.append(self.parse_or())
            self.expect("]")
            self.leave()
            return _List(items, token.column)
        raise self.unexpected(expected="a value, a name or '('")

    def parse_call(self, name_token: _Token) -> _Node:
        dotted = name_token.text
        function = FUNCTIONS.get(dotted)
        if function is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ConditionError(
                f"unknown function '{_shorten(dotted)}' at column {name_token.column} (available: {known})",
                column=name_token.column,
            )
        self.enter(name_token)
        self.expect("(")
        args: list[_Node] = []
        if not self.at_op(")"):
            args.append(self.parse_or())
            while self.at_op(","):
                self.advance()
                args.append(self.parse_or())
        self.expect(")")
        self.leave()
        if len(args) != function.arity:
            plural = "s" if function.arity != 1 else ""
            raise ConditionError(
                f"{dotted}() takes {function.arity} argument{plural}, got {len(args)} "
                f"(at column {name_token.column}); {function.doc}",
                column=name_token.column,
            )
        if dotted == "matches" and isinstance(args[1], _Literal):
            # A literal pattern is checked now, at save time, rather than at the first check.
            try:
                _compile_regex(args[1].value)
            except _TypeProblem as exc:
                raise ConditionError(f"matches(): {exc} (at column {args[1].column})", column=args[1].column)
        return _Call(dotted, args, name_token.column)


# --------------------------------------------------------------------------- public API


class Condition:
    """A compiled condition; cheap to keep and evaluate many times."""

    def __init__(self, source: str, tree: _Node, names: list[_Name]) -> None:
        self.source = source
        self._tree = tree
        self._names = names

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``values``; :class:`ConditionError` when it cannot be decided."""
        if not isinstance(values, Mapping):
            raise ConditionError(f"values must be a mapping, got {type(values).__name__}")
        try:
            return _truth(self._tree.eval(values))
        except ConditionError:
            raise
        except RecursionError:
            raise ConditionError("values are nested too deeply to compare")
        except (TypeError, ValueError, ArithmeticError) as exc:  # safety net: never leak a raw TypeError
            raise ConditionError(f"cannot evaluate the condition: {exc}")

    def names(self) -> set[str]:
        """The top-level value names the condition reads (``json`` for ``json.data.price``)."""
        return {node.parts[0] for node in self._names}

    def paths(self) -> set[str]:
        """The full dotted names the condition reads (``json.data.price``)."""
        return {node.dotted for node in self._names}

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def compile_condition(source: str, *, names: Iterable[str] | None = None) -> Condition:
    """Parse ``source`` into a :class:`Condition`, or raise :class:`ConditionError`.

    When ``names`` is given (the value names a probe provides), a name whose first part is
    not one of them is refused, with the known names listed.
    """
    if not isinstance(source, str):
        raise ConditionError(f"a condition must be text, got {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"condition is too long ({len(source)} characters; the limit is {MAX_LENGTH})")
    parser = _Parser(_tokenize(source))
    tree = parser.parse()
    if names is not None:
        known = list(dict.fromkeys(str(name) for name in names))
        for node in parser.names:
            root = node.parts[0]
            if root not in known:
                close = difflib.get_close_matches(root, known, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ConditionError(
                    f"unknown name '{root}' at column {node.column} ({hint}known: {', '.join(known) or 'none'})",
                    column=node.column,
                )
    return Condition(source, tree, parser.names)
