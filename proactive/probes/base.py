"""The probe interface: what a monitor runs to get the values its condition reads.

A probe kind is one class: ``kind`` and ``label``, a ``ConfigSerializer`` that validates
its config (the API and the forms use it, so errors name the field), ``names`` (the value
names it provides, which the condition is checked against at save time, or None when they
cannot be known in advance: pass it straight to ``compile_condition(..., names=...)``) and
:meth:`Probe.check`, which returns a :class:`ProbeResult` or raises :class:`ProbeError`.

A result is a *measurement*, whatever it says (a 500, an unreachable site, an empty metric
series); :class:`ProbeError` means no measurement could be made (a refused URL, a callable
that raised, an LLM answer that cannot be read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from rest_framework import serializers

__all__ = ["Probe", "ProbeContext", "ProbeError", "ProbeResult", "validation_text"]


class ProbeError(Exception):
    """The check could not be made; ``message`` is readable, ``values`` what was learnt anyway."""

    def __init__(self, message: str, *, values: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.values = dict(values or {})

    def __str__(self) -> str:
        return self.message


@dataclass
class ProbeResult:
    values: dict  # what the condition sees
    summary: str  # one line for the timeline, e.g. "200 in 123 ms, value=151.2"


@dataclass
class ProbeContext:
    workspace_id: int
    monitor_id: int | None = None
    now: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def validation_text(detail: Any, prefix: str = "") -> str:
    """Flatten DRF ``serializer.errors`` into one line: ``url: Enter a valid URL.; timeout: ...``."""
    if isinstance(detail, dict):
        parts = [validation_text(value, f"{prefix}{key}." if prefix else f"{key}.") for key, value in detail.items()]
        return "; ".join(part for part in parts if part)
    if isinstance(detail, list):
        messages = [validation_text(item, prefix) for item in detail]
        return "; ".join(message for message in messages if message)
    label = prefix[:-1]
    return f"{label}: {detail}" if label and label != "non_field_errors" else str(detail)


class Probe:
    """Base class of the probe kinds; subclasses set the class attributes and :meth:`check`."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # The value names check() provides, for validating conditions at save time; None when
    # they are not known in advance (the callable probe returns whatever its function does).
    names: ClassVar[tuple[str, ...] | None] = ()

    class ConfigSerializer(serializers.Serializer):
        pass

    def __init__(self, config: dict) -> None:
        """Validate ``config``; a stored config that no longer validates is a :class:`ProbeError`."""
        try:
            self.config = self.validate_config(config)
        except serializers.ValidationError as exc:
            raise ProbeError(f"invalid {self.kind or 'probe'} config: {validation_text(exc.detail)}") from exc

    @classmethod
    def validate_config(cls, config: Any, *, context: dict | None = None) -> dict:
        """The cleaned config (defaults filled in), or ``serializers.ValidationError`` naming the field.

        ``context`` is the ConfigSerializer's: when a monitor is saved, ``workspace_id`` (the
        monitor's workspace) and ``user`` (who saves it), so a kind can check what the config
        names (the llm probe: its agent is in that workspace and has the budget). Without
        it (a stored config re-read at check time) only the config's own shape is checked."""
        if not isinstance(config, dict):
            raise serializers.ValidationError({"non_field_errors": ["the probe config must be a JSON object"]})
        serializer = cls.ConfigSerializer(data=config, context=context or {})
        # DRF ignores unknown keys; a typo ("json_pth") must not silently do nothing.
        unknown = sorted(set(config) - set(serializer.fields))
        if unknown:
            allowed = ", ".join(serializer.fields) or "none"
            raise serializers.ValidationError({key: [f"unknown setting; allowed: {allowed}"] for key in unknown})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def check(self, *, context: ProbeContext) -> ProbeResult:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}>"
