"""JSON helpers shared by the apps.

Input from outside (API bodies, JSON typed into a form) is decoded with
:class:`StrictJSONDecoder` / :func:`loads_strict`: valid JSON that Gradent cannot store or
render safely is refused with :class:`JSONInputError`, which names where it is
(``input.items[3]``):

- a number outside the float range (``1e999999``) or ``NaN`` / ``Infinity``: a JSON column
  holding one fails its check constraint and a response holding one cannot be rendered;
- nesting deeper than ``GRADENT_JSON_MAX_DEPTH`` levels (64): the decoder, the encoder and
  the templates all recurse, and 3,000 levels ran out of stack.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.conf import settings

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "JSONInputError",
    "StrictJSONDecoder",
    "format_path",
    "json_problem",
    "jsonable",
    "loads_strict",
    "max_json_depth",
]

DEFAULT_MAX_DEPTH = 64
_SHOWN_PATH_PARTS = 8


def jsonable(value: Any) -> Any:
    """`value` as JSON types only (what a JSONField will store): anything else, such as
    datetimes or decimals, becomes its string."""
    return json.loads(json.dumps(value, default=str))


def max_json_depth() -> int:
    """How deep input JSON may nest (``GRADENT_JSON_MAX_DEPTH``); the document is level 1."""
    return int(getattr(settings, "GRADENT_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH))


class JSONInputError(json.JSONDecodeError):
    """Valid JSON that is refused. ``path`` is where: a tuple of keys and indexes, empty for
    the document itself. A ``JSONDecodeError``, so callers that catch bad JSON catch it."""

    def __init__(self, message: str, *, path: tuple = (), doc: str = "") -> None:
        super().__init__(message, doc if isinstance(doc, str) else "", 0)
        self.path = tuple(path)

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.msg}" if self.path else self.msg

    def __reduce__(self):
        return (_rebuild, (self.msg, self.path))


def _rebuild(message: str, path: tuple) -> JSONInputError:
    return JSONInputError(message, path=path)


def format_path(path: tuple | list) -> str:
    """``("input", "items", 3)`` → ``input.items[3]``; long paths are cut with an ellipsis."""
    text = ""
    for part in list(path)[:_SHOWN_PATH_PARTS]:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text + ("…" if len(path) > _SHOWN_PATH_PARTS else "")


def json_problem(value: Any, max_depth: int) -> JSONInputError | None:
    """The first reason to refuse a decoded value, or None: a non-finite float, or a
    container nested deeper than ``max_depth``. Walks the containers without recursion."""
    stack: list[tuple[Any, tuple, int]] = [(value, (), 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, float):
            if not math.isfinite(node):
                return JSONInputError("numbers must be finite (not NaN, Infinity or out of range)", path=path)
            continue
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        if depth > max_depth:
            return JSONInputError(f"nested deeper than {max_depth} levels", path=path)
        for key, child in items:
            if isinstance(child, float | dict | list):
                stack.append((child, (*path, key), depth + 1))
    return None


# A key (a string followed by a colon), any other string, or a structural character.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"\s*(:)?|[\[\]{},]')
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_CONTAINER = re.compile(r"\[\]|\{\}")
_MAX_SCANNED_TOKENS = 100_000


def _deeper_than(text: str, max_depth: int) -> bool:
    """Whether ``text`` (JSON without its strings) nests deeper than ``max_depth``: each
    pass removes the innermost containers, one level, in C."""
    brackets = _NOT_BRACKET.sub("", text)
    for _level in range(max_depth):
        if not brackets:
            return False
        brackets = _EMPTY_CONTAINER.sub("", brackets)
    return bool(brackets)


def _deep_path(text: str, max_depth: int) -> tuple:
    """Where ``text`` first opens a container below ``max_depth`` levels, for documents too
    deep for the decoder itself; ``()`` when not found within the first 100,000 tokens (the
    error then names no field rather than costing a second)."""
    stack: list[Any] = []  # per open container: its current key (objects) or index (arrays)
    for count, match in enumerate(_TOKEN.finditer(text)):
        if count >= _MAX_SCANNED_TOKENS:
            break
        token = match.group()
        first = token[0]
        if first in "[{":
            if len(stack) >= max_depth:
                return tuple(stack)
            stack.append(0 if first == "[" else "")
        elif first in "]}":
            if stack:
                stack.pop()
        elif first == ",":
            if stack and isinstance(stack[-1], int):
                stack[-1] += 1
        elif match.group(1) and stack:
            try:
                stack[-1] = json.loads(token[: token.rindex('"') + 1])
            except ValueError:
                stack[-1] = "?"
    return ()


class _NotFinite(Exception):
    """Raised by the decoder's number hooks: the value is walked to say where."""


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0:  # inf (1e999999) or nan
        raise _NotFinite
    return value


def _no_constant(text: str) -> float:
    raise _NotFinite


class StrictJSONDecoder(json.JSONDecoder):
    """``json.JSONDecoder`` that refuses what :func:`json_problem` finds, and documents too
    deep for the decoder (``RecursionError``), with a :class:`JSONInputError`. Numbers are
    checked as they are decoded; the values are walked only to say where a problem is."""

    max_depth: int | None = None

    def __init__(self, **kwargs) -> None:
        kwargs["parse_float"] = _finite_float
        kwargs["parse_constant"] = _no_constant
        super().__init__(**kwargs)

    def decode(self, s, *args, **kwargs):
        depth = self.max_depth or max_json_depth()
        too_deep = f"nested deeper than {depth} levels"
        try:
            try:
                value = super().decode(s, *args, **kwargs)
            except _NotFinite:
                value = json.loads(s)  # NaN and inf allowed this time, to find where they are
            else:
                # Fewer containers than levels allowed cannot nest too deep (most bodies).
                if s.count("[") + s.count("{") <= depth or not _deeper_than(_STRING.sub("", s), depth):
                    return value
        except RecursionError:
            raise JSONInputError(too_deep, path=_deep_path(s, depth), doc=s) from None
        problem = json_problem(value, depth)
        if problem is not None:
            raise problem
        return value


def loads_strict(text: str | bytes, *, max_depth: int | None = None) -> Any:
    """``json.loads`` for input from outside; :class:`JSONInputError` for what it refuses."""
    if isinstance(text, bytes | bytearray):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    decoder = StrictJSONDecoder()
    if max_depth is not None:
        decoder.max_depth = max_depth
    return decoder.decode(text)
