from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autonomy.models import AutonomyCycle, Event, MetricPoint
from autonomy.retention import apply_retention
from tests.helpers import make_user
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_it_deletes_old_points_and_events_and_downsamples_the_middle_age(settings):
    settings.GRADENT_AUTONOMY_RETENTION_DAYS = 30
    settings.GRADENT_AUTONOMY_RAW_DAYS = 7
    workspace = personal_workspace_for(make_user())
    other = personal_workspace_for(make_user("other"))
    old = NOW - timedelta(days=40)
    MetricPoint.objects.create(workspace=workspace, name="cpu", value=1, at=old)
    MetricPoint.objects.create(workspace=other, name="cpu", value=1, at=old)
    Event.objects.create(workspace=workspace, event_type="deploy", at=old)
    AutonomyCycle.objects.create(workspace=workspace, started=old)
    kept = AutonomyCycle.objects.create(workspace=workspace, started=NOW - timedelta(days=1))
    hour = (NOW - timedelta(days=10)).replace(minute=0)
    for minute, value in ((5, 10.0), (20, 20.0), (50, 30.0)):
        MetricPoint.objects.create(workspace=workspace, name="cpu", value=value, at=hour + timedelta(minutes=minute))
    recent = [MetricPoint.objects.create(workspace=workspace, name="cpu", value=v, at=NOW - timedelta(minutes=m))
              for m, v in ((10, 1.0), (20, 2.0))]  # fmt: skip

    result = apply_retention(workspace, now=NOW)

    assert result == {"deleted_points": 1, "deleted_events": 1, "deleted_cycles": 1, "downsampled": 2}
    assert list(AutonomyCycle.objects.all()) == [kept]
    merged = MetricPoint.objects.get(workspace=workspace, at=hour)
    assert merged.value == 20.0 and merged.labels == {"downsampled": 3}
    assert set(MetricPoint.objects.filter(workspace=workspace).values_list("pk", flat=True)) == {
        merged.pk,
        *(p.pk for p in recent),
    }
    assert MetricPoint.objects.filter(workspace=other).count() == 1  # another workspace is its own business
    again = apply_retention(workspace, now=NOW)
    assert again == {"deleted_points": 0, "deleted_events": 0, "deleted_cycles": 0, "downsampled": 0}
