"""Regular expressions in conditions: ``matches(text, pattern)`` runs on RE2.

RE2 (``google-re2``) matches in time linear in the input, whatever the pattern, so a
pattern such as ``(a+)+$`` cannot backtrack catastrophically and needs no shape check.
What RE2 gives up in exchange is refused with a message that says so: backreferences
(``\\1``, ``(?P=name)``) and lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``).  Other
differences from Python's ``re`` that a pattern may notice: ``\\d``, ``\\w``, ``\\s`` and ``\\b``
are ASCII-only, and a counted repetition is at most ``{1000}``.

:func:`regex_problem` is the older guard for patterns that Python's ``re`` runs (the HTTP
probe's ``regex`` setting still does): it refuses nested unbounded repetition, using
Python's private regex parser. It goes once that probe matches with :func:`compile_regex`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

from proactive.conditions.errors import MAX_REGEX_LENGTH

__all__ = ["RegexProblem", "compile_regex", "regex_problem"]

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


# --- the guard for Python's re (the HTTP probe) ---------------------------------------------

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
