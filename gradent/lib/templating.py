"""A tiny, safe placeholder renderer for agent step arguments and answers.

Only ``{{ dotted.path }}`` lookups are supported, with an optional fallback for a
path that is not there: ``{{ input.name | default: "there" }}`` (the fallback is a JSON
literal: a string, a number, true, false or null). No expressions, no other filters,
no attribute access on Python objects and never ``eval``. Path parts are dict
keys or integer list indexes, so a template can reach into run input, event
payloads and earlier step outputs (``steps.fetch.status``, ``steps.0.body``,
``payload.items.2.name``) but cannot call anything.

``render`` walks nested dicts/lists and renders every string it finds. A string
that is exactly one placeholder yields the referenced value itself (so
``{"n": "{{ input.count }}"}`` keeps ``count`` an int); placeholders embedded in
longer text are stringified (JSON for dicts/lists, ``str()`` for scalars, so
``True``/``None`` appear as Python spells them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gradent.lib import paths

__all__ = ["TemplateError", "render", "render_string", "resolve_path"]

# A path is one or more parts separated by dots; a part is a word (letters,
# digits, '_' and '-' so webhook keys like "x-request-id" work) or a negative
# integer index. Whitespace inside the braces is allowed and ignored.
_PART = r"[A-Za-z0-9_\-]+"
_LITERAL = r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null'
_PLACEHOLDER = re.compile(
    r"\{\{\s*(" + _PART + r"(?:\." + _PART + r")*)\s*(?:\|\s*default\s*:\s*(" + _LITERAL + r")\s*)?\}\}"
)
# Anything that looks like a placeholder but does not match the grammar above
# is reported instead of being left silently in the output.
_LOOSE_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)

# Guards against pathological inputs (deeply nested payloads from webhooks).
_MAX_DEPTH = 100


class TemplateError(ValueError):
    """A template referenced a path that does not exist or is malformed."""


def resolve_path(path: str, context: Mapping[str, Any]) -> Any:
    """Return the value at ``path`` (dot separated keys/indexes, :mod:`gradent.lib.paths`
    rules) in ``context``.

    Raises :class:`TemplateError` naming the full path and the part that failed.
    """
    try:
        return paths.walk(context, path)
    except paths.PathError as exc:
        raise TemplateError(_not_found(path, exc)) from None


def _not_found(path: str, exc: paths.PathError) -> str:
    part, walked, container = exc.part, exc.through, exc.container
    if exc.reason == paths.MISSING_KEY:
        why = f"no key '{part}'"
    elif exc.reason == paths.NOT_AN_INDEX:
        why = f"'{part}' is not an index into the list"
    elif exc.reason == paths.OUT_OF_RANGE:
        why = f"index {int(part)} out of range (length {len(container)})"
    else:
        kind = "null" if container is None else type(container).__name__
        why = f"cannot look up '{part}' in a {kind} value"
    return f"template path '{path}' not found: {why} at '{walked}'"


def _stringify(value: Any) -> str:
    """Text form of a value spliced into a longer string."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    # Scalars use str(): 3, 0.5, True, None.
    return str(value)


def _check_leftovers(template: str) -> None:
    """Reject ``{{ ... }}`` spans that are not valid placeholders."""
    for match in _LOOSE_PLACEHOLDER.finditer(template):
        placeholder = _PLACEHOLDER.fullmatch(match.group(0))
        if not placeholder:
            raise TemplateError(f"invalid template placeholder '{match.group(0)}'")
        if placeholder.group(2) is not None:
            try:
                json.loads(placeholder.group(2))
            except ValueError:
                raise TemplateError(f"invalid default in '{match.group(0)}'") from None


def _value(match: re.Match, context: Mapping[str, Any]) -> Any:
    """The placeholder's value: its path, else its default when it has one."""
    try:
        return resolve_path(match.group(1), context)
    except TemplateError:
        if match.group(2) is None:
            raise
        return json.loads(match.group(2))


def render_string(template: str, context: Mapping[str, Any]) -> str:
    """Replace every ``{{ path }}`` in ``template`` and always return text."""
    if not isinstance(template, str):
        raise TypeError("render_string() expects a str template")
    _check_leftovers(template)
    return _PLACEHOLDER.sub(lambda m: _stringify(_value(m, context)), template)


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render ``value`` recursively against ``context``.

    Dicts and lists are copied with their contents rendered (dict keys are left
    alone); strings are rendered; other values are returned unchanged. A string
    consisting solely of one placeholder returns the referenced native value.
    """
    return _render(value, context, 0)


def _render(value: Any, context: Mapping[str, Any], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise TemplateError("template value is nested too deeply")
    if isinstance(value, str):
        # Surrounding whitespace does not turn a lone placeholder into text.
        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole:
            _check_leftovers(value)
            return _value(whole, context)
        return render_string(value, context)
    if isinstance(value, Mapping):
        return {key: _render(item, context, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(item, context, depth + 1) for item in value]
    return value
