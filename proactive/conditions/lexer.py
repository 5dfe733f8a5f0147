"""The condition language's tokeniser: source text to a list of tokens, with 1-based columns."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from proactive.conditions.errors import ConditionError, _shorten

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
