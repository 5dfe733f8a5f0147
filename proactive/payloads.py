"""A webhook delivery's body as the data its run gets (`Run.payload`, the task template's
context), read strictly at the door.

Whatever the hook view accepts must be storable by every database Gradent runs on, or the
delivery is answered 202 and its run then fails to start. Python's ``json`` reads more than
JSON: ``NaN``, ``Infinity`` and ``1e999999`` (a float overflowing to infinity) are not JSON
numbers and neither SQLite's ``JSON_VALID`` check nor PostgreSQL's ``jsonb`` takes them back;
PostgreSQL also refuses ``\\u0000`` and unpaired surrogates (``\\ud800``) in strings. So those
are refused here, as is nesting deeper than any real sender's payload.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from gradent.lib.jsonutil import JSONInputError, loads_strict

# Deeper than any real webhook payload (GitHub's are ~6 levels), well under the limits of
# SQLite's JSON functions (1,000) and of Python's recursion.
MAX_PAYLOAD_DEPTH = 100
# In raw bytes: a \u0000 or \uD800–\uDFFF escape, or a UTF-8-encoded surrogate (json reads
# bytes with "surrogatepass"). Only a body that has one needs its strings looked at.
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class PayloadError(ValueError):
    """The body cannot be a run's payload; the message says why, for the delivery's reason."""


def _strict_json(data: bytes | str) -> Any:
    """Strict JSON (gradent.lib.jsonutil: no NaN, Infinity or overflowing numbers, nesting at
    most MAX_PAYLOAD_DEPTH), or PayloadError saying why."""
    try:
        return loads_strict(data, max_depth=MAX_PAYLOAD_DEPTH)
    except JSONInputError as exc:
        raise PayloadError(str(exc)[:120]) from None
    except ValueError as exc:  # JSONDecodeError, undecodable bytes, integers of more than 4,300 digits
        raise PayloadError(str(exc)[:120]) from None


def _check_text(value: str) -> None:
    if "\x00" in value:
        raise PayloadError("a string holds a NUL character (\\u0000), which cannot be stored")
    if not value.isascii() and _SURROGATE.search(value):
        raise PayloadError("a string holds an unpaired surrogate (\\ud800–\\udfff), which cannot be stored")


def check_payload(data: Any) -> None:
    """Raise PayloadError if `data` holds a string no database can store (nesting is
    bounded by the parse). Iterative: no recursion on hostile input."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            _check_text(value)


def load_payload(body: bytes, content_type: str) -> dict:
    """The body as data for the agent: JSON (an object, or ``{"data": …}`` for another
    value), a form (GitHub's form-encoded ``payload=`` JSON included), or ``{"body": text}``
    for a body that neither claims nor parses as JSON. Raises PayloadError (its message says
    why) for a body that claims JSON and is not strict JSON, or that no database can store."""
    content_type = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if content_type == "application/x-www-form-urlencoded":
        form = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if "payload" in form and isinstance(form["payload"], str):  # GitHub's form-encoded deliveries
            data = _strict_json(form["payload"])
            check_payload(data)
            return data if isinstance(data, dict) else {"data": data}
        check_payload(form)
        return form
    try:
        data = _strict_json(body)
    except PayloadError:
        if "json" in content_type:
            raise
        data = {"body": body.decode("utf-8", "replace")}
        check_payload(data)
        return data
    if _SUSPECT.search(body):
        check_payload(data)
    return data if isinstance(data, dict) else {"data": data}


def parse_body(body: bytes, content_type: str) -> dict | None:
    """load_payload, with None for a body that cannot be a payload."""
    try:
        return load_payload(body, content_type)
    except PayloadError:
        return None
