"""A tiny, safe placeholder renderer for agent step arguments and answers.

Only ``{{ dotted.path }}`` lookups are supported: no expressions, no filters,
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
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["TemplateError", "render", "render_string", "resolve_path"]

# A path is one or more parts separated by dots; a part is a word (letters,
# digits, '_' and '-' so webhook keys like "x-request-id" work) or a negative
# integer index. Whitespace inside the braces is allowed and ignored.
_PART = r"[A-Za-z0-9_\-]+"
_PLACEHOLDER = re.compile(r"\{\{\s*(" + _PART + r"(?:\." + _PART + r")*)\s*\}\}")
# Anything that looks like a placeholder but does not match the grammar above
# is reported instead of being left silently in the output.
_LOOSE_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)

# Guards against pathological inputs (deeply nested payloads from webhooks).
_MAX_DEPTH = 100


class TemplateError(ValueError):
    """A template referenced a path that does not exist or is malformed."""


def resolve_path(path: str, context: Mapping[str, Any]) -> Any:
    """Return the value at ``path`` (dot separated keys/indexes) in ``context``.

    Raises :class:`TemplateError` naming the full path and the part that failed.
    """
    current: Any = context
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        current = _step_into(current, part, path, ".".join(walked))
    return current


def _step_into(current: Any, part: str, path: str, walked: str) -> Any:
    """Descend one level; dict keys win over index interpretation."""
    if isinstance(current, Mapping):
        if part in current:
            return current[part]
        # Dicts coming from JSON never have int keys, but step_outputs_by_id
        # style mappings built in Python might; accept both spellings.
        if _is_int(part) and int(part) in current:
            return current[int(part)]
        raise TemplateError(f"template path '{path}' not found: no key '{part}' at '{walked}'")
    if isinstance(current, Sequence) and not isinstance(current, (str, bytes, bytearray)):
        if not _is_int(part):
            raise TemplateError(
                f"template path '{path}' not found: '{part}' is not an index into the list at '{walked}'"
            )
        index = int(part)
        try:
            return current[index]
        except IndexError:
            raise TemplateError(
                f"template path '{path}' not found: index {index} out of range (length {len(current)}) at '{walked}'"
            ) from None
    kind = "null" if current is None else type(current).__name__
    raise TemplateError(f"template path '{path}' not found: cannot look up '{part}' in a {kind} value at '{walked}'")


def _is_int(text: str) -> bool:
    """True for decimal integers, including negative ones like '-1'."""
    return bool(re.fullmatch(r"-?\d+", text))


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
        if not _PLACEHOLDER.fullmatch(match.group(0)):
            raise TemplateError(f"invalid template placeholder '{match.group(0)}'")


def render_string(template: str, context: Mapping[str, Any]) -> str:
    """Replace every ``{{ path }}`` in ``template`` and always return text."""
    if not isinstance(template, str):
        raise TypeError("render_string() expects a str template")
    _check_leftovers(template)
    return _PLACEHOLDER.sub(lambda m: _stringify(resolve_path(m.group(1), context)), template)


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
            return resolve_path(whole.group(1), context)
        return render_string(value, context)
    if isinstance(value, Mapping):
        return {key: _render(item, context, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(item, context, depth + 1) for item in value]
    return value
