from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents and runs"

    def ready(self) -> None:
        from agents import dispatcher  # noqa: F401  (registers the agents' sources)

        checks.register(check_plugins)


def check_plugins(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every tool and provider path must import, or the first run that needs it fails."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from agents.providers import PROVIDERS
    from agents.tools import tool_paths

    errors: list[checks.CheckMessage] = []
    for path in tool_paths():
        try:
            tool = import_string(path)
        except ImportError as exc:
            hint = "Check GRADENT_EXTRA_TOOLS." if path in settings.GRADENT_EXTRA_TOOLS else None
            errors.append(checks.Error(f"tool {path!r} cannot be imported: {exc}", hint=hint, id="agents.E001"))
            continue
        if not getattr(tool, "name", ""):
            errors.append(checks.Error(f"tool {path!r} has no name", id="agents.E002"))
    for name, path in PROVIDERS.items():
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(checks.Error(f"provider {name!r} ({path}) cannot be imported: {exc}", id="agents.E003"))
    if settings.Q_CLUSTER["retry"] <= settings.Q_CLUSTER["timeout"]:
        errors.append(checks.Error("Q_CLUSTER retry must exceed timeout, or tasks run twice", id="agents.E004"))
    return errors
