"""The `notify` tool: an agent sends a message to one of its workspace's channels."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents.tools.base import Tool, ToolContext, ToolError
from notifications.models import Channel, NotificationStatus
from notifications.services import agent_context, channel_send_message, site_url


class NotifyTool(Tool):
    name = "notify"
    description = (
        "Send a message to a notification channel of this workspace (Discord, ntfy, Slack, webhook or email), "
        "by the channel's name."
    )

    class InputSerializer(serializers.Serializer):
        channel = serializers.CharField(max_length=100, help_text="The channel's name (or id)")
        message = serializers.CharField(max_length=4000, help_text="The text to send")
        title = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text="Optional title")

    def run(self, args: dict, ctx: ToolContext) -> Any:
        wanted = args["channel"].strip()
        channels = Channel.objects.filter(workspace_id=ctx.agent.workspace_id)
        channel = channels.filter(name=wanted).first()
        if channel is None and wanted.isdigit():
            channel = channels.filter(pk=int(wanted)).first()
        if channel is None:
            names = ", ".join(channels.filter(enabled=True).values_list("name", flat=True)[:20]) or "none"
            raise ToolError(f"no channel named {wanted!r} in this workspace; channels: {names}", permanent=True)
        if not channel.enabled:
            raise ToolError(
                f"channel {channel.name!r} is disabled: {channel.disabled_reason or 'switched off'}", permanent=True
            )
        notification = channel_send_message(
            channel=channel,
            message=args["message"],
            title=args.get("title", ""),
            context={
                "agent": agent_context(ctx.agent),
                "run": {"id": ctx.run.pk, "url": site_url("agents:run", ctx.run.pk)},
                "url": site_url("agents:run", ctx.run.pk),
            },
            run_id=ctx.run.pk,
        )
        if notification.status == NotificationStatus.FAILED:
            raise ToolError(f"the message could not be prepared: {notification.last_error}", permanent=True)
        return {"notification_id": notification.pk, "channel": channel.name, "status": "queued"}
