"""Agent configuration checks shared by the API, the pages and the admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from agents.providers import PROVIDERS, get_provider_class
from agents.tools import tool_registry

_schedule_validators: list[Callable[[str], str]] = []


def register_schedule_validator(validator: Callable[[str], str]) -> None:
    """The proactive app registers its cron validator for the agent-level `schedule`
    field (agents never imports the apps above it)."""
    if validator not in _schedule_validators:
        _schedule_validators.append(validator)


def validate_agent_schedule(expression: str) -> str:
    for validator in _schedule_validators:
        try:
            expression = validator(expression)
        except ValueError as exc:
            raise ValidationError({"schedule": str(exc)}) from None
    return expression


def validate_agent_config(
    *, provider: str, provider_settings: Any, allowed_tools: Any, max_seconds: int | None = None
) -> dict:
    """Raise ValidationError naming the field; return cleaned provider settings."""
    errors: dict[str, str] = {}
    cleaned: dict = {}
    if provider not in PROVIDERS:
        errors["provider"] = f"Unknown provider {provider!r}; choose one of: {', '.join(PROVIDERS.names())}."
    if not isinstance(provider_settings, dict):
        errors["provider_settings"] = "Must be a JSON object."
    elif "provider" not in errors:
        try:
            cleaned = get_provider_class(provider).validate_settings(provider_settings) or {}
        except ValidationError as exc:
            errors["provider_settings"] = "; ".join(exc.messages)
        if "extra_headers" not in provider_settings:
            # Left out means "keep the stored ones" (Agent.absorb_extra_headers), not "none".
            cleaned.pop("extra_headers", None)
    if not isinstance(allowed_tools, list) or not all(isinstance(t, str) for t in allowed_tools):
        errors["allowed_tools"] = "Must be a list of tool names."
    else:
        known = tool_registry()
        unknown = [t for t in allowed_tools if t not in known]
        if unknown:
            errors["allowed_tools"] = f"Unknown tool(s): {', '.join(unknown)}. Available: {', '.join(sorted(known))}."
        elif len(set(allowed_tools)) != len(allowed_tools):
            errors["allowed_tools"] = "A tool is listed twice."
    limit = settings.GRADENT_TASK_TIMEOUT - settings.GRADENT_RUN_GRACE_SECONDS
    if max_seconds is not None and max_seconds > limit:
        errors["max_seconds"] = f"At most {limit} s (GRADENT_TASK_TIMEOUT minus the grace period)."
    if errors:
        raise ValidationError(errors)
    return cleaned
