"""Small ORM helpers the apps share."""

from __future__ import annotations

from django.db import models


def one_or_none(queryset: models.QuerySet):
    """The one row (or value) a look-up by a unique key finds, or None.

    `first()` would order by the primary key to pick "the first" of rows there can be only
    one of; the ORDER BY is compiled on every call (a fifth of a webhook delivery's CPU
    with the webhook's trigger joined in). `get()` is the same query without it."""
    try:
        return queryset.get()
    except queryset.model.DoesNotExist:
        return None
