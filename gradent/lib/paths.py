"""One way to follow a dotted path (``payload.items.0.name``) into JSON-like data.

Used by the template renderer (``{{ steps.fetch.status }}``), the HTTP probe's ``json_path``
and names in monitor conditions (``json.data.price``), so a path means the same thing in all
of them. The rules, one part at a time:

- a **mapping** (dict, or any ``Mapping``): the part is a key. When there is no such key and
  the part is an integer (``"0"``, ``"-1"``), the integer key is tried too (mappings built in
  Python may have int keys; JSON objects never do).
- a **list or tuple** (any ``Sequence`` that is not text or bytes): the part must be an
  integer; a negative one counts from the end, as in Python (``items.-1`` is the last item).
- **anything else** (a string, a number, null): there is nothing to walk into.

Nothing else is reached: no attributes, no methods, no calls. A path that cannot be followed
raises :class:`PathError` (a ``LookupError``), which says where and why, so each caller can
word its own message; ``walk(data, path, default=None)`` returns the default instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MISSING_KEY", "NOT_AN_INDEX", "NOT_A_CONTAINER", "OUT_OF_RANGE", "PathError", "split", "walk"]

# PathError.reason values.
MISSING_KEY = "missing_key"
NOT_AN_INDEX = "not_an_index"
OUT_OF_RANGE = "out_of_range"
NOT_A_CONTAINER = "not_a_container"

_INTEGER = re.compile(r"-?[0-9]+")
_RAISE: Any = object()


class PathError(LookupError):
    """The part ``parts[index]`` of a path could not be followed.

    ``reason`` is one of :data:`MISSING_KEY`, :data:`NOT_AN_INDEX`, :data:`OUT_OF_RANGE`,
    :data:`NOT_A_CONTAINER`; ``container`` is the value the part was looked up in.
    """

    def __init__(self, *, parts: tuple[str, ...], index: int, reason: str, container: Any) -> None:
        self.parts = parts
        self.index = index
        self.reason = reason
        self.container = container
        super().__init__(f"path '{'.'.join(parts)}': cannot follow '{self.part}' ({reason}) at '{self.through}'")

    @property
    def part(self) -> str:
        return self.parts[self.index]

    @property
    def before(self) -> str:
        """The dotted path of the container (``""`` when it is the data itself)."""
        return ".".join(self.parts[: self.index])

    @property
    def through(self) -> str:
        """The dotted path up to and including the failing part."""
        return ".".join(self.parts[: self.index + 1])


def split(path: str | Sequence[str]) -> tuple[str, ...]:
    """``"a.b.0"`` → ``("a", "b", "0")``; a sequence of parts is taken as it is."""
    return tuple(path.split(".")) if isinstance(path, str) else tuple(path)


def walk(data: Any, path: str | Sequence[str], *, default: Any = _RAISE) -> Any:
    """The value at ``path`` (dotted text, or its parts) in ``data``, by the rules above.

    Raises :class:`PathError` when a part cannot be followed, unless ``default`` is given,
    which is then returned instead.
    """
    parts = split(path)
    current = data
    for index, part in enumerate(parts):
        if isinstance(current, Mapping):
            if part in current:
                current = current[part]
                continue
            if _INTEGER.fullmatch(part) and int(part) in current:
                current = current[int(part)]
                continue
            reason = MISSING_KEY
        elif isinstance(current, Sequence) and not isinstance(current, str | bytes | bytearray):
            if not _INTEGER.fullmatch(part):
                reason = NOT_AN_INDEX
            elif -len(current) <= int(part) < len(current):
                current = current[int(part)]
                continue
            else:
                reason = OUT_OF_RANGE
        else:
            reason = NOT_A_CONTAINER
        if default is not _RAISE:
            return default
        raise PathError(parts=parts, index=index, reason=reason, container=current)
    return current
