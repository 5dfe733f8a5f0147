"""Skip codes: why a run was skipped, read by code, never by looking for a word in the reason."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.models import Agent, Run
from agents.services import start_run
from agents.skips import SkipCode, skip_code
from tests.helpers import auth, make_agent, make_user, token_for

pytestmark = pytest.mark.django_db


def test_each_refusal_of_the_start_decision_has_its_code():
    user = make_user("kim")
    assert skip_code(start_run(make_agent(user, name="off", enabled=False))) == SkipCode.DISABLED
    paused = make_agent(user, name="paused", state=Agent.State.PAUSED, state_reason="maintenance")
    assert skip_code(start_run(paused)) == SkipCode.PAUSED
    busy = make_agent(user, name="busy", overlap_policy="skip")
    Run.objects.create(workspace=busy.workspace, agent=busy, status="running")
    assert skip_code(start_run(busy)) == SkipCode.OVERLAP_SKIP
    waiting = make_agent(user, name="waiting", overlap_policy="queue_one")
    Run.objects.create(workspace=waiting.workspace, agent=waiting, status="running")
    assert skip_code(start_run(waiting)) is None  # queued behind the running one
    assert skip_code(start_run(waiting)) == SkipCode.OVERLAP_QUEUE_ONE
    workspace = busy.workspace
    workspace.runs_per_hour = 0
    workspace.save()
    assert skip_code(start_run(make_agent(user, name="over quota"))) == SkipCode.QUOTA


def test_a_code_set_by_the_start_decision_wins_over_the_reason():
    run = Run(status="skipped", reason="Workspace quota of 5 run starts per hour is used up.")
    run.skip_code = SkipCode.PAUSED
    assert skip_code(run) == SkipCode.PAUSED


def test_a_paused_agent_whose_pause_reason_mentions_the_quota_is_409_not_429():
    user = make_user("lee")
    agent = make_agent(user, state=Agent.State.PAUSED, state_reason="over the provider's quota")
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    response = client.post(f"/api/agents/{agent.pk}/run", {}, format="json")
    assert response.status_code == 409
    assert response.json()["reason"] == "Agent is paused: over the provider's quota"
