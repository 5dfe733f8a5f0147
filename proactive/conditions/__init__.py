"""Monitor conditions: a small, safe expression language, parsed by us.

A condition is compiled (:func:`compile_condition`) when a monitor is saved, to refuse a bad
one, and again for each check, where it is evaluated against the values the probe returned
(:meth:`Condition.evaluate`); parsing at most :data:`MAX_LENGTH` characters is cheap::

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
``matches()`` compiles at most :data:`MAX_REGEX_LENGTH` characters of pattern with RE2, which
matches in linear time (no backreferences or lookaround: see :mod:`.regex`), and searches at
most :data:`MAX_MATCH_INPUT` characters of text.

Modules: :mod:`.lexer` (text to tokens), :mod:`.parser` (tokens to a tree,
:func:`compile_condition`), :mod:`.evaluator` (the tree's nodes, operators, functions and
:class:`Condition`), :mod:`.regex` (``matches()`` on RE2), :mod:`.errors`.
"""

from __future__ import annotations

from proactive.conditions.errors import MAX_DEPTH, MAX_LENGTH, MAX_MATCH_INPUT, MAX_REGEX_LENGTH, ConditionError
from proactive.conditions.evaluator import FUNCTIONS, Condition
from proactive.conditions.parser import compile_condition
from proactive.conditions.regex import RegexProblem, compile_regex

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_MATCH_INPUT",
    "MAX_REGEX_LENGTH",
    "Condition",
    "ConditionError",
    "RegexProblem",
    "compile_condition",
    "compile_regex",
]
