"""The condition language's tree: nodes that evaluate themselves, the operators' rules and
the few functions a condition may call. Nothing here reaches Python attributes or calls
anything outside :data:`FUNCTIONS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gradent.lib import paths
from proactive.conditions.errors import MAX_MATCH_INPUT, ConditionError, _shorten
from proactive.conditions.regex import RegexProblem, compile_regex


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
        try:
            return paths.walk(values, self.parts)
        except paths.PathError as exc:
            raise self.error(self._not_found(exc, values)) from None

    def _not_found(self, exc: paths.PathError, values: Mapping[str, Any]) -> str:
        part, walked, container = exc.part, exc.before, exc.container
        if exc.index == 0:
            known = ", ".join(sorted(str(k) for k in values)) or "none"
            return f"no value named '{part}' (available: {known})"
        if exc.reason == paths.MISSING_KEY:
            return f"'{walked}' has no key '{part}'"
        if exc.reason == paths.NOT_AN_INDEX:
            return f"'{walked}' is a list: use a number, not '{part}'"
        if exc.reason == paths.OUT_OF_RANGE:
            return f"'{walked}' has {len(container)} item(s), no index {int(part)}"
        return f"cannot look up '{part}' in '{walked}', which is {_type_name(container)}"


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


# --- functions ----------------------------------------------------------------------------


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


def _compile_regex(pattern: Any) -> Any:
    if not isinstance(pattern, str):
        raise _TypeProblem(f"the pattern must be a string, got {_describe(pattern)}")
    try:
        return compile_regex(pattern)
    except RegexProblem as exc:
        raise _TypeProblem(str(exc))


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
