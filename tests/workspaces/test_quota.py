"""The hourly run quota of a workspace (RunCounter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.models import RunStatus
from agents.services import start_run
from tests.helpers import make_agent, make_user
from workspaces.models import RunCounter, personal_workspace_for

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 2, 12, 15, tzinfo=UTC)


def test_take_slot_counts_up_to_the_quota_per_hour():
    workspace = personal_workspace_for(make_user("alice"))
    workspace.runs_per_hour = 2
    workspace.save()
    assert [RunCounter.take_slot(workspace, now=NOON) for _ in range(3)] == [True, True, False]
    assert RunCounter.take_slot(workspace, now=NOON + timedelta(hours=1)) is True  # a new hour
    assert RunCounter.objects.get(workspace=workspace, hour=NOON.replace(minute=0)).count == 2


def test_a_quota_of_zero_refuses_every_start():
    workspace = personal_workspace_for(make_user("alice"))
    workspace.runs_per_hour = 0
    workspace.save()
    assert RunCounter.take_slot(workspace, now=NOON) is False


def test_the_default_quota_comes_from_the_setting(settings):
    settings.GRADENT_RUNS_PER_HOUR = 7
    workspace = personal_workspace_for(make_user("alice"))
    assert workspace.run_quota == 7
    workspace.runs_per_hour = 3
    assert workspace.run_quota == 3


def test_starts_beyond_the_quota_are_skipped_and_counted_once():
    agent = make_agent(make_user("alice"))
    agent.workspace.runs_per_hour = 2
    agent.workspace.save()
    runs = [start_run(agent) for _ in range(3)]
    assert [run.status for run in runs] == [RunStatus.QUEUED, RunStatus.QUEUED, RunStatus.SKIPPED]
    assert "quota of 2 run starts per hour" in runs[2].reason
    assert RunCounter.objects.get(workspace=agent.workspace).count == 2
