"""Callable probe: a Python function of the operator's, named by dotted path.

Config: ``{"path": "mysite.checks.queue_depth", "options": {...}}``.  The function is called
as ``fn(config, context)`` with the whole probe config and a :class:`ProbeContext`, and
returns a dict of values (keys are value names; they should be strings) or a number, which
becomes ``{"value": n}``.  Import errors and exceptions raised by the function are
:class:`ProbeError` with the exception text.

Only the functions the operator registered may be named: ``GRADENT_CALLABLE_PROBES`` lists
their dotted paths (the ``proactive.E003`` system check imports each). Workspace members
choose among them; any other path is refused when a monitor is saved (``path``) and, for a
monitor stored before its path was taken off the list, when it is checked, without being
imported. A registered function runs in the worker process with its full rights.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string
from rest_framework import serializers

from proactive.probes.base import Probe, ProbeContext, ProbeError, ProbeResult

__all__ = ["CallableProbe", "allowed_paths", "check_allowed_paths"]

SETTING = "GRADENT_CALLABLE_PROBES"

_DOTTED_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_MAX_SUMMARY_VALUES = 4


def allowed_paths() -> list[str]:
    """The dotted paths the operator registered (``GRADENT_CALLABLE_PROBES``: a list, or a
    comma-separated string)."""
    value = getattr(settings, SETTING, None) or []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        return []
    return [path.strip() for path in value if isinstance(path, str) and path.strip()]


def check_allowed_paths(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``proactive.E003``: each registered path is a dotted path that imports to a callable."""
    value = getattr(settings, SETTING, None) or []
    if not isinstance(value, str | list | tuple):
        message = f"{SETTING} must be a list of dotted paths, not {type(value).__name__}"
        return [checks.Error(message, id="proactive.E003")]
    errors = []
    for path in allowed_paths():
        problem = None
        if not _DOTTED_PATH.match(path):
            problem = "is not a dotted path (package.module.function)"
        else:
            try:
                function = import_string(path)
            except Exception as exc:  # a broken module must not crash the check itself
                problem = f"cannot be imported: {_short(exc)}"
            else:
                if not callable(function):
                    problem = "is not callable"
        if problem:
            message = f"callable probe {path!r} {problem} (listed in {SETTING})"
            errors.append(checks.Error(message, hint=f"Check {SETTING}.", id="proactive.E003"))
    return errors


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CallableProbe(Probe):
    kind: ClassVar[str] = "callable"
    label: ClassVar[str] = "Python callable"
    names: ClassVar[tuple[str, ...] | None] = None  # whatever the function returns: not known in advance

    class ConfigSerializer(serializers.Serializer):
        path = serializers.CharField(max_length=300, help_text="Dotted path: package.module.function.")
        options = serializers.DictField(default=dict, help_text="Passed to the function inside config.")

        def validate_path(self, value: str) -> str:
            value = value.strip()
            if not _DOTTED_PATH.match(value) or any(part.startswith("__") for part in value.split(".")):
                raise serializers.ValidationError("Use a dotted path like package.module.function.")
            allowed = allowed_paths()
            if value not in allowed:
                choices = f"one of: {', '.join(allowed)}" if allowed else "none are registered"
                raise serializers.ValidationError(
                    f"{value} is not a callable the operator registered ({SETTING}); {choices}."
                )
            return value

    def check(self, *, context: ProbeContext) -> ProbeResult:
        path = self.config.get("path")
        if not isinstance(path, str) or path not in allowed_paths():
            raise ProbeError(f"{path} is not a registered callable ({SETTING}); it was not run")
        try:
            function = import_string(path)
        except ImportError as exc:
            raise ProbeError(f"cannot import {path}: {_short(exc)}") from exc
        if not callable(function):
            raise ProbeError(f"{path} is not callable")
        try:
            returned = function(dict(self.config), context)
        except Exception as exc:  # the operator's code: any failure is a failed check
            raise ProbeError(f"{path} raised {type(exc).__name__}: {_short(exc)}") from exc
        values = self._values(path, returned)
        return ProbeResult(values=values, summary=self._summary(path, values))

    @staticmethod
    def _values(path: str, returned: Any) -> dict:
        if isinstance(returned, bool) or returned is None:
            raise ProbeError(f"{path} returned {returned!r}; return a dict of values or a number")
        if isinstance(returned, int | float):
            return {"value": returned}
        if isinstance(returned, dict):
            return {str(key): value for key, value in returned.items()}
        raise ProbeError(f"{path} returned a {type(returned).__name__}; return a dict of values or a number")

    @staticmethod
    def _summary(path: str, values: dict) -> str:
        shown = []
        for key, value in list(values.items())[:_MAX_SUMMARY_VALUES]:
            if isinstance(value, str | int | float | bool) or value is None:
                shown.append(f"{key}={_short(repr(value), 40)}")
            else:
                shown.append(f"{key}=<{type(value).__name__}>")
        more = ", …" if len(values) > _MAX_SUMMARY_VALUES else ""
        return f"{path}: {', '.join(shown) or 'no values'}{more}"
