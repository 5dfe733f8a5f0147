"""Probe registry: the built-in kinds below, users' own :class:`Probe` subclasses listed by
dotted path in ``GRADENT_EXTRA_PROBES`` (added, never replacing a built-in kind).

Classes are imported lazily with ``import_string``; the ``proactive.E001`` system check
imports them all at start-up.
"""

from __future__ import annotations

from gradent.lib.registry import Registry
from proactive.probes.base import Probe, ProbeContext, ProbeError, ProbeResult

__all__ = [
    "PROBES",
    "Probe",
    "ProbeContext",
    "ProbeError",
    "ProbeResult",
    "UnknownProbeError",
    "get_probe_class",
    "probe_choices",
    "probe_paths",
]

PROBES = Registry(
    "probe",
    setting="GRADENT_EXTRA_PROBES",
    builtins=[
        "proactive.probes.http.HttpProbe",
        "proactive.probes.metric.MetricProbe",
        "proactive.probes.callable.CallableProbe",
        "proactive.probes.llm.LLMProbe",
    ],
    name_attr="kind",
    base=Probe,
    check_id="proactive.E001",
)


class UnknownProbeError(KeyError, ValueError):
    """No probe kind is registered under the requested name (a KeyError and a ValueError)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown probe kind"


def probe_paths() -> list[str]:
    """Every probe class path: the built-ins, then ``settings.GRADENT_EXTRA_PROBES``."""
    return PROBES.paths()


def get_probe_class(kind: str) -> type[Probe]:
    """The probe class registered as ``kind``; :class:`UnknownProbeError` otherwise."""
    try:
        return PROBES.get(kind)
    except KeyError:
        raise UnknownProbeError(f"unknown probe kind {kind!r}; choose one of: {', '.join(PROBES)}") from None


def probe_choices() -> list[tuple[str, str]]:
    """``(kind, label)`` of every registered probe, for forms."""
    return PROBES.choices()
