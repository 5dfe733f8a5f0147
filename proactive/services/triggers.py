"""Writes of triggers: the rendered task, the filters, one fire."""

from __future__ import annotations

import re

from django.db.models import F
from django.utils import timezone

from agents.models import Run, RunSource
from agents.services import start_run
from gradent.lib.paths import walk
from gradent.lib.templating import TemplateError, render_string
from proactive.models import Trigger

# `{{ dotted.path }}` (the safe engine's grammar, checked by it) or the original `{key}`.
_PLACEHOLDERS = re.compile(r"\{\{(.*?)\}\}|(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})", re.DOTALL)


def render_task(template: str, payload: dict) -> str:
    """`{{ dotted.path }}` placeholders (the safe engine), and the original examples'
    `{pr_number}` style for top-level keys. A missing `{{ path }}` renders as a visible
    `[missing: path]` marker (an unknown `{key}` stays as written). One pass: text that
    came from the payload is never read as template."""
    if not template:
        return ""
    data = payload if isinstance(payload, dict) else {}
    context = {**data, "payload": payload}

    def fill(match: re.Match) -> str:
        if match.group(2) is not None:
            key = match.group(2)
            return render_string("{{ " + key + " }}", data) if key in data else match.group(0)
        try:
            return render_string(match.group(0), context)
        except TemplateError:
            return f"[missing: {match.group(1).strip()}]"

    return _PLACEHOLDERS.sub(fill, template)


def trigger_matches(trigger: Trigger, *, payload: dict, event_type: str | None) -> tuple[bool, str]:
    """Filters from the trigger's config: events (or the original `event`), match on payload
    paths, and a GitHub repository. Returns (matches, why not)."""
    config = trigger.config or {}
    events = config.get("events") or config.get("event") or []
    if isinstance(events, str):
        events = [events]
    if events and event_type not in events:
        return False, f"event {event_type or '(none)'} is not one of {', '.join(map(str, events))}"
    for path, expected in (config.get("match") or {}).items():
        actual = walk(payload, path, default=None)
        allowed = expected if isinstance(expected, list) else [expected]
        if actual not in allowed:
            return False, f"{path} is {actual!r}, not {expected!r}"
    repository = config.get("repository")
    full_name = walk(payload, "repository.full_name", default=None)
    if repository and (not isinstance(full_name, str) or full_name.casefold() != str(repository).casefold()):
        return False, f"repository is not {repository}"
    return True, ""


def trigger_fire(
    trigger: Trigger,
    *,
    payload: dict | None = None,
    event_type: str | None = None,
    source: str = RunSource.TRIGGER,
    slot_key: str | None = None,
    check_filters: bool = True,
) -> tuple[Run | None, str]:
    """Start the trigger's agent with the rendered task and the payload (fenced as data
    by the executor). Returns (run, "") or (None, why it did not fire)."""
    payload = payload or {}
    if not trigger.enabled:
        return None, "trigger is disabled"
    if check_filters:
        ok, why = trigger_matches(trigger, payload=payload, event_type=event_type)
        if not ok:
            return None, why
    run = start_run(
        trigger.agent,
        source=source,
        source_ref=f"trigger:{trigger.pk}",
        input=trigger_input(trigger, payload, event_type),
        payload=payload,
        slot_key=slot_key,
    )
    Trigger.objects.filter(pk=trigger.pk).update(fire_count=F("fire_count") + 1, last_fired_at=timezone.now())
    return run, ""


# Input fields a trigger fills itself; its config's "input" may not name them.
OWN_INPUT_FIELDS = ("trigger", "task", "event_type")
_ABSENT = object()


def trigger_input(trigger: Trigger, payload: dict, event_type: str | None) -> dict:
    """The run's input: the trigger's name, the rendered task, the event type, and the
    fields the config's "input" maps from payload paths ({"number": "pull_request.number"}),
    with the payload's own values (numbers stay numbers). A path the payload does not have
    is left out, so an agent's input schema says what is missing on the skipped run."""
    run_input = {"trigger": trigger.name}
    task = render_task(trigger.task_template, payload)
    if task:
        run_input["task"] = task
    if event_type:
        run_input["event_type"] = event_type
    for field, path in ((trigger.config or {}).get("input") or {}).items():
        value = walk(payload, path, default=_ABSENT)
        if value is not _ABSENT and field not in OWN_INPUT_FIELDS:
            run_input[field] = value
    return run_input
