"""Pages for schedules, monitors, triggers, webhooks and suggestions, one module each.

Every object comes through `get_object_for_user` (404 outside the user's workspaces, 403 for
a viewer's writes); lists through `scope_queryset`; writes are POSTs that go through
`proactive.services` (and `proactive.mining`), as the API's do. Create, edit and delete pages
use `gradent.lib.pages`, as every app's do.
"""

from __future__ import annotations

from proactive.views.common import (
    confirm_context,
    describe,
    describe_schedule,
    every_text,
    in_zone,
    schedule_title,
    started_message,
    timezone_names,
    titled,
    zone_or_utc,
)
from proactive.views.monitors import (
    monitor_check_view,
    monitor_create,
    monitor_delete,
    monitor_detail,
    monitor_edit,
    monitor_list,
    monitor_pause_view,
    monitor_resume_view,
)
from proactive.views.schedules import (
    schedule_create,
    schedule_delete,
    schedule_detail,
    schedule_edit,
    schedule_list,
    schedule_name_check,
    schedule_pause_view,
    schedule_preview,
    schedule_resume_view,
    schedule_run_view,
    upcoming_fires,
)
from proactive.views.suggestions import (
    suggestion_accept_view,
    suggestion_dismiss_view,
    suggestion_list,
    suggestion_mine,
)
from proactive.views.triggers import (
    trigger_create,
    trigger_delete,
    trigger_detail,
    trigger_edit,
    trigger_fire_view,
    trigger_list,
)
from proactive.views.webhooks import (
    delivery_detail,
    delivery_replay,
    webhook_create,
    webhook_delete,
    webhook_detail,
    webhook_edit,
    webhook_list,
    webhook_regenerate,
    webhook_send_test,
    webhook_url,
)

__all__ = [
    "confirm_context",
    "delivery_detail",
    "delivery_replay",
    "describe",
    "describe_schedule",
    "every_text",
    "in_zone",
    "monitor_check_view",
    "monitor_create",
    "monitor_delete",
    "monitor_detail",
    "monitor_edit",
    "monitor_list",
    "monitor_pause_view",
    "monitor_resume_view",
    "schedule_create",
    "schedule_delete",
    "schedule_detail",
    "schedule_edit",
    "schedule_list",
    "schedule_name_check",
    "schedule_pause_view",
    "schedule_preview",
    "schedule_resume_view",
    "schedule_run_view",
    "schedule_title",
    "started_message",
    "suggestion_accept_view",
    "suggestion_dismiss_view",
    "suggestion_list",
    "suggestion_mine",
    "timezone_names",
    "titled",
    "trigger_create",
    "trigger_delete",
    "trigger_detail",
    "trigger_edit",
    "trigger_fire_view",
    "trigger_list",
    "upcoming_fires",
    "webhook_create",
    "webhook_delete",
    "webhook_detail",
    "webhook_edit",
    "webhook_list",
    "webhook_regenerate",
    "webhook_send_test",
    "webhook_url",
    "zone_or_utc",
]
