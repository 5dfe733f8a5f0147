from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import DispatcherHeartbeat

pytestmark = pytest.mark.django_db


def test_healthz_is_503_and_names_the_parts_that_are_down(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["dispatcher"] == {"ok": False, "detail": "no dispatcher has run", "last_beat": None}
    assert body["ok"] is False


def test_healthz_calls_a_silent_dispatcher_late(client):
    DispatcherHeartbeat.objects.create(name="h:1", last_beat=timezone.now() - timedelta(minutes=5))
    dispatcher = client.get("/healthz").json()["dispatcher"]
    assert dispatcher["ok"] is False and "late" in dispatcher["detail"]
    DispatcherHeartbeat.objects.update(last_beat=timezone.now())
    assert client.get("/healthz").json()["dispatcher"]["ok"] is True


def test_healthz_on_a_database_not_migrated_says_so_with_a_503_not_a_500(client):
    from django.db import connection

    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute(f"DROP TABLE {DispatcherHeartbeat._meta.db_table}")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == {"ok": False, "detail": "the database has no tables yet: run `python manage.py migrate`"}
    assert body["dispatcher"] == {"ok": False, "detail": "no database"}
