"""Regular expressions in conditions: ``matches(text, pattern)`` runs on RE2.

RE2 (``google-re2``) matches in time linear in the input, whatever the pattern, so a
pattern such as ``(a+)+$`` cannot backtrack catastrophically and needs no shape check.
What RE2 gives up in exchange is refused with a message that says so: backreferences
(``\\1``, ``(?P=name)``) and lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``).  Other
differences from Python's ``re`` that a pattern may notice: ``\\d``, ``\\w``, ``\\s`` and ``\\b``
are ASCII-only, and a counted repetition is at most ``{1000}``.

The HTTP probe's ``regex`` setting uses :func:`compile_regex` too.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

from proactive.conditions.errors import MAX_REGEX_LENGTH

__all__ = ["RegexProblem", "compile_regex"]

# Patterns are compiled by every check of every monitor that uses matches(); most monitors
# use a handful of patterns, so a small cache saves recompiling them each time.
_CACHE_SIZE = 256
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is raised to the caller, not printed on stderr
_UNSUPPORTED = (
    ("(?P=", "named backreferences such as (?P=name) are not supported"),
    ("(?=", "lookahead (?=...) is not supported"),
    ("(?!", "negative lookahead (?!...) is not supported"),
    ("(?<=", "lookbehind (?<=...) is not supported"),
    ("(?<!", "negative lookbehind (?<!...) is not supported"),
)
_BACKREFERENCE = re.compile(r"invalid escape sequence: \\[1-9]")


class RegexProblem(ValueError):
    """A pattern ``matches()`` cannot use; the message says why."""


def compile_regex(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (cached), or :class:`RegexProblem` saying what is wrong."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise RegexProblem(f"the pattern is longer than {MAX_REGEX_LENGTH} characters")
    return _compile(pattern)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(pattern: str) -> Any:
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        raise RegexProblem(_explain(exc, pattern)) from None


def _explain(exc: Exception, pattern: str) -> str:
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", errors="replace")
    detail = str(detail)
    why = "matches() uses RE2, which runs in linear time"
    if _BACKREFERENCE.search(detail):
        return f"invalid regular expression: backreferences such as \\1 are not supported ({why})"
    for operator, message in _UNSUPPORTED:
        # RE2 names only the first characters of an operator it does not know: look in the pattern.
        if "invalid perl operator" in detail and operator in pattern:
            return f"invalid regular expression: {message} ({why})"
    return f"invalid regular expression: {detail}"
