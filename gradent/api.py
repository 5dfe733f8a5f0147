"""API-wide pieces: the exception handler that turns domain errors into 4xx, the JSON
field for form-encoded input, and the reading of integer query parameters. (The JSON
parser is in ``gradent.parsers``: DRF imports it while ``rest_framework.views`` loads.)"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, pagination, serializers
from rest_framework.views import exception_handler as drf_exception_handler

from gradent.lib.jsonutil import StrictJSONDecoder

# The largest id a 64-bit integer key holds; a bigger one cannot be looked up (SQLite raises).
MAX_ID = 2**63 - 1


def exception_handler(exc, context):
    # Model/service validation errors carry field names: answer 400 with them, never 500.
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's, with ``limit`` and ``offset`` each capped at half the 64-bit range so that their
    sum (the query's upper bound) fits: SQLite answers a bigger one with an error, a 500."""

    max_limit = MAX_ID // 2

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_ID // 2)


class JSONField(serializers.JSONField):
    """``serializers.JSONField`` whose JSON *strings* (a form-encoded or multipart request)
    are decoded like JSON bodies: ``1e999999`` and deep nesting are invalid, not a 500.
    Model ``JSONField``s map to it (``GradentConfig.ready``)."""

    def __init__(self, **kwargs):
        if kwargs.get("decoder") is None:
            kwargs["decoder"] = StrictJSONDecoder
        super().__init__(**kwargs)


def int_param(
    raw, name: str, *, minimum: int = 0, maximum: int = MAX_ID, default: int | None = None, message: str = ""
) -> int | None:
    """A whole number from a query string or a form, in ``minimum..maximum``; ``default``
    when absent or blank. Anything else is a 400 naming ``name`` (never a 500 from a value
    the database cannot hold, nor from digits ``int()`` refuses such as ``²``)."""
    if raw is None or raw == "":
        return default
    text = raw.strip() if isinstance(raw, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 20:
        value = int(text)
        if minimum <= value <= maximum:
            return value
    raise serializers.ValidationError({name: [message or f"A whole number from {minimum} to {maximum} is expected."]})


def id_param(params, name: str, *, what: str = "an") -> int | None:
    """The id given as query parameter ``name`` (None when absent); a 400 naming it unless
    it is a whole number a database key can hold."""
    return int_param(params.get(name), name, minimum=1, message=f"Must be {what} id (a whole number from 1).")
