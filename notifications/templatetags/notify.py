"""Filters for the notification templates (a dedicated engine without HTML autoescaping:
these are text and JSON, not HTML)."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def tojson(value: Any) -> str:
    """The value as a JSON literal: how JSON templates insert text safely."""
    return json.dumps(value, ensure_ascii=False, default=str)


@register.filter
def slack_escape(value: Any) -> str:
    """Slack mrkdwn treats &, < and > as control characters (links, mentions)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@register.filter
def oneline(value: Any) -> str:
    return " ".join(str(value).split())
