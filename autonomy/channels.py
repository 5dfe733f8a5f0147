"""Who hears about autonomy, without importing the notifications app.

Autonomy publishes its cycle and goal events on `agents.events` (registered in
AutonomyConfig.ready); notifications subscribes and tells the channels that listen. The
autonomous-mode configuration keeps a Discord and an ntfy channel of its own: it asks for them
with the `channel.*` questions that notifications answers (notifications/hooks.py).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents import events

# --- the events autonomy publishes: payload workspace_id, context (the message's data) ------
CYCLE_STARTED = "autonomy_cycle_started"
CYCLE_COMPLETED = "autonomy_cycle_completed"
GOAL_CREATED = "goal_created"
GOAL_ACHIEVED = "goal_achieved"
GOAL_FAILED = "goal_failed"
TOOL_CALLED = "autonomy_tool_called"  # the executor's tool calls, when notify_tool_calls is on
EVENTS = (CYCLE_STARTED, CYCLE_COMPLETED, GOAL_CREATED, GOAL_ACHIEVED, GOAL_FAILED, TOOL_CALLED)


def publish(
    event: str, *, workspace_id: int, context: dict[str, Any], own_channels: bool = False, run_id: int | None = None
) -> None:
    """`own_channels`: autonomy's Discord and ntfy channels hear it whatever their
    subscriptions say (cycle results and failures, tool calls they were asked for), as the
    original's configured webhook did."""
    payload: dict[str, Any] = {"workspace_id": workspace_id, "context": context}
    if own_channels:
        payload["also_channels"] = list(NAMES.values())
    if run_id is not None:
        payload["run_id"] = run_id
    events.publish(event, **payload)


# --- autonomy's own channels --------------------------------------------------------------------
DISCORD = "discord"
NTFY = "ntfy"
# The channels are known by these names (unique in a workspace); users see them in the list.
NAMES = {DISCORD: "Autonomy (Discord)", NTFY: "Autonomy (ntfy)"}
OFF_REASON = "Removed from the autonomous mode configuration."


def channel(workspace_id: int, kind: str, *, enabled: bool | None = None):
    """The autonomy channel of this kind (pk, name, kind, enabled, config), or None — also
    when the notifications app is not installed."""
    try:
        return events.ask("channel.find", workspace_id=workspace_id, name=NAMES[kind], kind=kind, enabled=enabled)
    except events.NoAnswer:
        return None


def channel_save(workspace_id: int, kind: str, config: dict | None) -> None:
    """Set the autonomy channel of this kind to a validated config, subscribed to autonomy's
    events; None switches it off."""
    events.ask(
        "channel.save",
        workspace_id=workspace_id,
        name=NAMES[kind],
        kind=kind,
        config=config,
        events=list(EVENTS),
        off_reason=OFF_REASON,
    )


def config_validate(kind: str, config: dict) -> dict:
    """The kind's validated config. A ValidationError lists the config's messages."""
    try:
        return events.ask("channel.validate_config", kind=kind, config=config)
    except events.NoAnswer:
        raise serializers.ValidationError(["Notifications are not installed."]) from None
    except serializers.ValidationError as exc:
        errors = exc.detail.get("config", {}) if isinstance(exc.detail, dict) else {}
        messages = [str(message) for field_errors in errors.values() for message in field_errors]
        raise serializers.ValidationError(messages or ["Invalid value."]) from None


def test_send(kind: str, config: dict, *, sender: str) -> str:
    """Send a test message to an unsaved channel now: the failure's reason, or ""."""
    return events.ask("channel.send_test", kind=kind, config=config, channel_name="Autonomous mode", sender=sender)
