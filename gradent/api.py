"""API-wide pieces: the exception handler that turns domain errors into 4xx, the strict
serializer base every API serializer uses, the strict pagination, the JSON field for JSON
given as a string, and the reading of integer query parameters. (The JSON parser is in
``gradent.parsers``: DRF imports it while ``rest_framework.views`` loads.)"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.defaults import bad_request as bad_request_page
from django.views.defaults import page_not_found
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.views import exception_handler as drf_exception_handler

from gradent.lib.jsonutil import StrictJSONDecoder

# The largest id a database row can have (a signed 64-bit primary key).
MAX_ID = 2**63 - 1


def not_found(request, exception):
    """The 404 handler: JSON under /api/ (a path that matches no route, e.g. a non-numeric
    goal id), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def bad_request(request, exception):
    """The 400 handler (a request Django itself refuses before any view: a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields): under /api/ JSON that says why, a 413 for
    the body's size; the usual page elsewhere."""
    if not request.path.startswith("/api/"):
        return bad_request_page(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return JsonResponse({"detail": f"Request body too large: at most {limit} bytes."}, status=413)
    return JsonResponse({"detail": "Bad request."}, status=400)


def exception_handler(exc, context):
    # Model/service validation errors carry field names: answer 400 with them, never 500.
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)


# Sent along with form posts by browsers and the browsable API; never a field of ours.
FORM_ONLY_FIELDS = frozenset({"csrfmiddlewaretoken"})


class StrictFieldsMixin:
    """A write naming a field the serializer does not know is a 400 naming it, instead of
    an answer that looks like success and changes nothing (`is_activ: false`).

    Read-only fields are known: a client may send back what it read (`id`, `created`,
    `state`…) and they are ignored, as DRF always did. `extra_input_fields` lists names a
    view reads itself from the body (the autonomy views' `workspace_id`)."""

    extra_input_fields: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            known = set(self.fields) | FORM_ONLY_FIELDS | set(self.extra_input_fields)
            unknown = sorted(str(name) for name in data if name not in known)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    pass


class RegistryChoiceField(serializers.ChoiceField):
    """One of a plug-in registry's names (users' own included), read when the serializer is
    made, so the schema lists them as an enum and a wrong one is a 400 listing them."""

    def __init__(self, registry, **kwargs) -> None:
        self.registry = registry
        super().__init__(choices=[], **kwargs)

    def bind(self, field_name: str, parent) -> None:
        super().bind(field_name, parent)
        names = self.registry.names()
        self.choices = names
        self.error_messages = {
            **self.error_messages,
            "invalid_choice": f"Unknown {field_name} '{{input}}'; choose one of: {', '.join(names)}.",
        }


def whole_number(
    raw, name: str, *, minimum: int = 0, maximum: int = MAX_ID, default: int | None = None, message: str = ""
) -> int | None:
    """One whole number from a query string or a form, in ``minimum..maximum``; ``default``
    when absent or blank. Anything else is a 400 naming ``name`` (never a 500 from a value
    the database cannot hold, nor from digits ``int()`` takes but SQL does not, such as ``²``)."""
    if raw is None or raw == "":
        return default
    text = raw.strip() if isinstance(raw, str) else ""
    digits = text[1:] if text[:1] in "+-" else text
    if digits.isascii() and digits.isdigit() and len(digits) <= 20:
        value = int(text)
        if minimum <= value <= maximum:
            return value
    raise serializers.ValidationError({name: [message or f"A whole number from {minimum} to {maximum}."]})


def int_param(
    params, name: str, *, minimum: int = 1, maximum: int = MAX_ID, default: int | None = None, message: str = ""
) -> int | None:
    """A whole-number query parameter, given at most once, within [minimum, maximum]; else a
    400 naming it. `default` when it is absent (or empty)."""
    values = params.getlist(name) if hasattr(params, "getlist") else [params.get(name)]
    values = [v for v in values if v not in (None, "")]
    if not values:
        return default
    if len(values) > 1:
        raise serializers.ValidationError({name: [f"Give {name} once."]})
    return whole_number(values[0], name, minimum=minimum, maximum=maximum, message=message)


def id_param(params, name: str, *, what: str = "an") -> int | None:
    """The id given as query parameter ``name`` (None when absent); a 400 naming it unless
    it is a whole number a database key can hold."""
    return int_param(params, name, minimum=1, message=f"Must be {what} id (a whole number from 1).")


class JSONField(serializers.JSONField):
    """``serializers.JSONField`` whose JSON *strings* are decoded like JSON bodies:
    ``1e999999`` and deep nesting are invalid, not a 500. Model ``JSONField``s map to it
    (``GradentConfig.ready``)."""

    def __init__(self, **kwargs):
        if kwargs.get("decoder") is None:
            kwargs["decoder"] = StrictJSONDecoder
        super().__init__(**kwargs)


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """`?limit=&offset=` as documented: whole numbers in range, each given once; anything
    else is a 400 naming the parameter (DRF's own falls back to the defaults silently)."""

    max_limit = 1000
    max_offset = 10**9

    def get_limit(self, request):
        return int_param(
            request.query_params, self.limit_query_param, minimum=1, maximum=self.max_limit, default=self.default_limit
        )

    def get_offset(self, request):
        return int_param(request.query_params, self.offset_query_param, minimum=0, maximum=self.max_offset, default=0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        ranges = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, self.max_offset)}
        for parameter in parameters:
            low, high = ranges[parameter["name"]]
            parameter["schema"] = {"type": "integer", "minimum": low, "maximum": high}
        return parameters
