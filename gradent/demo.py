"""Example agents for `up --demo`: scripted, so they work with no API key and offline."""

from __future__ import annotations

from agents.models import Agent, OverlapPolicy
from agents.services import start_run
from workspaces.models import personal_workspace_for

# Runs started with no input (Run now with an empty box, a schedule) still work.
NOTE = '{{ input.note | default: "(no note given)" }}'
TASK = '{{ input.task | default: "" }}'

DEMO_AGENTS = [
    {
        "name": "Demo: note keeper",
        "description": "Remembers the last note it was given and recalls the one before.",
        "task_instructions": "Keep the latest note.",
        "allowed_tools": ["recall", "remember"],
        "provider_settings": {
            "steps": [
                {"id": "previous", "tool": "recall", "args": {"key": "note"}},
                {"id": "store", "tool": "remember", "args": {"key": "note", "value": NOTE}},
            ],
            "answer": f"Stored {NOTE}; before it the note was {{{{ steps.previous }}}}",
        },
        "input": {"note": "hello from the demo"},
    },
    {
        "name": "Demo: greeter",
        "description": "Greets whoever the run input names, and finishes.",
        "task_instructions": "Say hello.",
        "allowed_tools": ["finish"],
        "provider_settings": {
            "steps": [{"tool": "finish", "args": {"answer": 'Hello, {{ input.name | default: "there" }}!'}}],
        },
        "input": {"name": "newcomer"},
    },
]


EXECUTOR = {
    "name": "Demo: autonomous executor",
    "description": "The executor of autonomous mode: notes each cycle as an event and remembers when it ran.",
    "task_instructions": "Look after the workspace.",
    "allowed_tools": ["record_event", "remember"],
    "provider_settings": {
        "steps": [
            {
                "tool": "record_event",
                "args": {"event_type": "demo.cycle", "metadata": {"task": TASK}},
            },
            {"tool": "remember", "args": {"key": "last_cycle_task", "value": TASK}},
        ],
        "answer": "Cycle noted.",
    },
}


def create_demo(*, owner) -> list[Agent]:
    """Create the demo agents once (idempotent) and start a first run of each."""
    workspace = personal_workspace_for(owner)
    created = []
    for spec in DEMO_AGENTS:
        spec = dict(spec)
        run_input = spec.pop("input")
        agent, was_created = Agent.objects.get_or_create(
            workspace=workspace,
            name=spec["name"],
            defaults={**spec, "provider": "scripted", "model": "", "overlap_policy": OverlapPolicy.QUEUE_ONE},
        )
        created.append(agent)
        if was_created:
            start_run(agent, source="manual", source_ref="demo", input=run_input)
    executor, _ = Agent.objects.get_or_create(
        workspace=workspace,
        name=EXECUTOR["name"],
        defaults={**EXECUTOR, "provider": "scripted", "overlap_policy": OverlapPolicy.SKIP},
    )
    created.append(executor)
    from autonomy.services import config_for

    config = config_for(workspace)
    if config.executor_id is None:
        # Autonomous mode stays off until someone switches it on; the executor is ready.
        config.executor = executor
        config.save(update_fields=["executor"])
    return created
