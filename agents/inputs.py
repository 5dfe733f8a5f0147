"""Run input schemas: an agent may declare a JSON Schema (draft 2020-12) for its run input.

Every start is checked against it in one place (agents.services.start_runs). The page and
the API answer a failing input with 400 naming the field; a start nobody waits for
(schedule, trigger, webhook, monitor) is recorded as a skipped run whose reason names the
field, so it is never lost and its source's run list says why.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import re2
from django.core.exceptions import ValidationError
from jsonschema import Draft202012Validator, SchemaError, validators
from jsonschema.exceptions import ValidationError as SchemaViolation

INPUT_ERRORS_SHOWN = 5
_RE2 = re2.Options()
_RE2.log_errors = False


@functools.lru_cache(maxsize=256)
def _regex(pattern: str):
    return re2.compile(pattern, options=_RE2)


def _pattern(validator, pattern, instance, schema):
    # Webhook and trigger inputs are untrusted: RE2 matches in linear time, so a schema's
    # pattern cannot be made to backtrack for minutes (jsonschema's own uses `re`).
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield SchemaViolation(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _regex(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


InputValidator = validators.extend(
    Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties}
)


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str):
    # An agent's schema is the same from run to run: build its validator once. Checking an
    # input then costs ~60 µs (measured on a small schema with a pattern).
    return InputValidator(json.loads(schema_json))


def _patterns(schema: Any):
    """Every regular expression in a schema (values of `pattern`, keys of `patternProperties`)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from value
            yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


def validate_input_schema(schema: Any) -> dict:
    """Raise ValidationError under `input_schema` unless `schema` is a usable JSON Schema
    object ({} means no schema); return it."""
    if schema in (None, ""):
        return {}
    if not isinstance(schema, dict):
        raise ValidationError({"input_schema": "Must be a JSON object (a JSON Schema), or {} for none."})
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        raise ValidationError(
            {"input_schema": f"Not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}"}
        ) from None
    for pattern in _patterns(schema):
        try:
            _regex(pattern)
        except re2.error:
            raise ValidationError(
                {"input_schema": f"Pattern {pattern!r} is not one RE2 accepts (no lookaround or backreferences)."}
            ) from None
    return schema


def input_errors(schema: dict | None, value: Any, *, prefix: str = "input") -> dict[str, list[str]]:
    """The ways `value` breaks `schema`, keyed by the field they are about (`input.city`,
    `input.items.0`); empty when it conforms or there is no schema. A missing required
    property is reported on the property itself, so a form can put it on its line."""
    if not schema:
        return {}
    errors: dict[str, list[str]] = {}
    validator = _validator(json.dumps(schema, sort_keys=True))
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        path = [prefix, *map(str, error.absolute_path)]
        message = error.message
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [name for name in error.validator_value if name not in error.instance]
            named = next((name for name in missing if message.startswith(repr(name))), None)
            if named is not None:
                path.append(str(named))
                message = "This field is required."
        key = ".".join(path)
        if sum(len(v) for v in errors.values()) >= INPUT_ERRORS_SHOWN:
            break
        errors.setdefault(key, []).append(message[:200])
    return errors


def input_errors_text(errors: dict[str, list[str]]) -> str:
    """One line for a run's reason: `input.city: This field is required.; …`."""
    return "; ".join(f"{field}: {message}" for field, messages in errors.items() for message in messages)
