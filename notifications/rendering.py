"""Messages are rendered from templates, never assembled in code.

Two layers, both overridable by dropping a file into ``templates/notifications/``:

* ``notifications/text/<event>.txt`` — the words: the first line is the title, the rest the
  body (``text/default.txt`` when an event has none);
* ``notifications/<kind>/<event>.<ext>`` — what the transport sends (``.json`` for Discord,
  Slack and webhooks, ``.txt`` for ntfy and email), else ``notifications/<kind>/default.<ext>``.

Templates run on a dedicated engine without HTML autoescaping and with the ``tojson``,
``slack_escape`` and ``oneline`` filters built in; a missing variable renders empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError, VariableDoesNotExist

from notifications.models import EVENT_LABELS, MESSAGE_EVENT, TEST_EVENT, NotifyEvent
from notifications.transports import get_transport_class

EVENT_LEVELS = {
    NotifyEvent.RUN_STARTED: "info",
    NotifyEvent.RUN_SUCCEEDED: "success",
    NotifyEvent.RUN_FAILED: "error",
    NotifyEvent.RUN_SKIPPED: "warning",
    NotifyEvent.AGENT_AUTO_PAUSED: "error",
    NotifyEvent.MONITOR_FLIPPED: "warning",
    NotifyEvent.GOAL_CREATED: "info",
    NotifyEvent.GOAL_ACHIEVED: "success",
    NotifyEvent.GOAL_FAILED: "error",
    NotifyEvent.AUTONOMY_CYCLE_STARTED: "info",
    NotifyEvent.AUTONOMY_CYCLE_COMPLETED: "success",
    NotifyEvent.TOOL_CALLED: "info",
    NotifyEvent.AUTONOMY_TOOL_CALLED: "info",
    TEST_EVENT: "info",
    MESSAGE_EVENT: "info",
}
LEVELS = ("info", "success", "warning", "error")
# Embed / attachment colours (Discord takes an integer).
LEVEL_COLOURS = {"info": 0x3498DB, "success": 0x2ECC71, "warning": 0xF39C12, "error": 0xE74C3C}


class RenderError(ValueError):
    """A notification template is missing, broken, or produced invalid JSON."""


@dataclass
class Rendered:
    title: str
    body: str
    payload: Any
    level: str
    url: str


@lru_cache(maxsize=1)
def engine() -> Engine:
    dirs = [d for config in settings.TEMPLATES for d in config.get("DIRS", [])]
    return Engine(
        dirs=dirs,
        app_dirs=True,
        autoescape=False,
        string_if_invalid="",
        builtins=["notifications.templatetags.notify"],
    )


def _render(names: list[str], context: dict) -> str:
    try:
        template = engine().select_template(names)
        return template.render(Context(context, autoescape=False))
    except TemplateDoesNotExist:
        raise RenderError(f"no notification template among {', '.join(names)}") from None
    except (TemplateSyntaxError, VariableDoesNotExist) as exc:
        raise RenderError(f"notification template error: {exc}") from None


def level_for(event: str, context: dict) -> str:
    level = context.get("level")
    if level in LEVELS:
        return level
    return EVENT_LEVELS.get(event, "info")


def render_message(*, kind: str, event: str, context: dict, now: datetime | None = None) -> Rendered:
    """Render the title, text and the kind's payload of one notification."""
    level = level_for(event, context)
    timestamp = (now or datetime.now(UTC)).astimezone(UTC)
    data = {key: value for key, value in context.items() if key != "level"}
    ctx = {
        **data,
        "event": event,
        "event_label": EVENT_LABELS.get(event, event),
        "level": level,
        "colour": LEVEL_COLOURS[level],
        "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
        "url": str(context.get("url") or ""),
        "site_url": settings.SITE_URL.rstrip("/"),
    }
    text = _render([f"notifications/text/{event}.txt", "notifications/text/default.txt"], ctx)
    text = re.sub(r"\n{3,}", "\n\n", text.strip().replace("\r\n", "\n"))
    title, _, body = text.partition("\n")
    ctx.update(title=title.strip(), body=body.strip())
    ctx["data"] = {**data, "event": event, "title": ctx["title"], "text": ctx["body"], "level": level}
    ext = get_transport_class(kind).template_ext
    # A kind without templates of its own (a user's transport) gets the generic one.
    names = [
        f"notifications/{kind}/{event}.{ext}",
        f"notifications/{kind}/default.{ext}",
        f"notifications/default.{ext}",
    ]
    out = _render(names, ctx)
    if ext == "json":
        try:
            payload = json.loads(out)
        except ValueError as exc:
            raise RenderError(f"the {kind} template for {event} did not produce JSON: {exc}") from None
    else:
        payload = re.sub(r"\n{3,}", "\n\n", out.strip())
    return Rendered(title=ctx["title"], body=ctx["body"], payload=payload, level=level, url=ctx["url"])
