"""Probe registry: built-ins by dotted path, users' own with ``GRADENT_EXTRA_PROBES``.

Classes are imported lazily with ``import_string``; :func:`probe_paths` lists every path so
a system check can import them all at start-up (see :func:`probe_path_errors`).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from proactive.probes.base import Probe, ProbeContext, ProbeError, ProbeResult

__all__ = [
    "PROBES",
    "PROBE_CHOICES",
    "Probe",
    "ProbeContext",
    "ProbeError",
    "ProbeResult",
    "UnknownProbeError",
    "get_probe_class",
    "probe_choices",
    "probe_path_errors",
    "probe_paths",
]

PROBES: dict[str, str] = {
    "http": "proactive.probes.http.HttpProbe",
    "metric": "proactive.probes.metric.MetricProbe",
    "callable": "proactive.probes.callable.CallableProbe",
    "llm": "proactive.probes.llm.LLMProbe",
}

PROBE_CHOICES: list[tuple[str, str]] = [
    ("http", "HTTP check (status, latency, JSON path, regex)"),
    ("metric", "Recorded metric"),
    ("callable", "Python callable"),
    ("llm", "LLM judgement (last resort)"),
]


class UnknownProbeError(KeyError, ValueError):
    """No probe kind is registered under the requested name (a KeyError and a ValueError)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown probe kind"


def extra_probe_paths() -> list[str]:
    value = getattr(settings, "GRADENT_EXTRA_PROBES", []) or []
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    return [str(path).strip() for path in value]


def probe_paths() -> list[str]:
    """Every probe class path: the built-ins, then ``settings.GRADENT_EXTRA_PROBES``."""
    return [*PROBES.values(), *extra_probe_paths()]


def _extra_classes() -> dict[str, type[Probe]]:
    classes: dict[str, type[Probe]] = {}
    for path in extra_probe_paths():
        cls = import_string(path)
        classes.setdefault(cls.kind, cls)
    return classes


def get_probe_class(kind: str) -> type[Probe]:
    """The probe class registered as ``kind``; :class:`UnknownProbeError` otherwise."""
    if isinstance(kind, str) and kind in PROBES:
        return import_string(PROBES[kind])
    extras = _extra_classes()
    if isinstance(kind, str) and kind in extras:
        return extras[kind]
    known = ", ".join([*PROBES, *(k for k in extras if k not in PROBES)])
    raise UnknownProbeError(f"unknown probe kind {kind!r}; choose one of: {known}")


def probe_choices() -> list[tuple[str, str]]:
    """``PROBE_CHOICES`` plus the extra probes' ``(kind, label)``."""
    choices = list(PROBE_CHOICES)
    for kind, cls in _extra_classes().items():
        if kind not in PROBES:
            choices.append((kind, cls.label or kind))
    return choices


def probe_path_errors() -> list[str]:
    """Problems with the registered paths, for a system check: unimportable, not a Probe, no kind."""
    errors: list[str] = []
    seen: dict[str, str] = {}
    for path in probe_paths():
        try:
            cls = import_string(path)
        except ImportError as exc:
            errors.append(f"probe {path!r} cannot be imported: {exc}")
            continue
        if not (isinstance(cls, type) and issubclass(cls, Probe)):
            errors.append(f"probe {path!r} is not a subclass of proactive.probes.base.Probe")
            continue
        if not cls.kind:
            errors.append(f"probe {path!r} has no kind")
        elif cls.kind in seen:
            errors.append(f"probe {path!r} reuses the kind {cls.kind!r} of {seen[cls.kind]!r}")
        else:
            seen[cls.kind] = path
    return errors
