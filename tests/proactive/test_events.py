from __future__ import annotations

import pytest

from agents.executor import execute_run
from agents.models import Run
from agents.services import start_run
from proactive.events import emit_event
from proactive.models import Schedule, Trigger
from tests.helpers import make_agent

pytestmark = pytest.mark.django_db


def test_an_event_fires_the_event_triggers_that_listen_for_it():
    listener = make_agent(name="listener")
    Trigger.objects.create(workspace=listener.workspace, agent=listener, name="on report", trigger_type="event",
                           config={"events": ["report.ready"]}, task_template="Read report {{ id }}")  # fmt: skip
    Trigger.objects.create(workspace=listener.workspace, agent=listener, name="other", trigger_type="event",
                           config={"events": ["something.else"]})  # fmt: skip
    (run,) = emit_event(workspace_id=listener.workspace_id, event_type="report.ready", payload={"id": 7})
    assert run.input["task"] == "Read report 7" and run.payload == {"id": 7}


def test_agents_emit_events_and_schedule_followups_through_tools():
    emitter = make_agent(
        name="emitter",
        allowed_tools=["emit_event", "schedule_followup"],
        provider_settings={
            "steps": [
                {"tool": "emit_event", "args": {"event_type": "done", "payload": {"by": "emitter"}}},
                {"tool": "schedule_followup", "args": {"delay_minutes": 30, "task": "check again"}},
            ]
        },
    )
    listener = make_agent(workspace=emitter.workspace, name="listener")
    Trigger.objects.create(workspace=emitter.workspace, agent=listener, name="t", trigger_type="event",
                           config={"events": ["done"]})  # fmt: skip
    run = start_run(emitter)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.reason
    assert Run.objects.filter(agent=listener, source="trigger").count() == 1
    followup = Schedule.objects.get(agent=emitter)
    assert (followup.kind, followup.task_description, followup.enabled) == ("once", "check again", True)
    assert followup.next_fire_at == followup.run_at
