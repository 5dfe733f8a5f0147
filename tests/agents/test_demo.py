"""`up --demo`: every demo agent's first press works, with no input at all."""

from __future__ import annotations

import pytest

from agents.models import RunStatus
from agents.services import start_run
from gradent.demo import create_demo
from tests.helpers import make_user


@pytest.mark.django_db
def test_every_demo_agent_succeeds_when_run_with_an_empty_input(run_inline):
    with run_inline(execute=True):
        agents = create_demo(owner=make_user())  # the first run of each, with its example input
    assert len(agents) == 3
    for agent in agents:
        with run_inline(execute=True):
            run = start_run(agent, input={})
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, (agent.name, run.reason)
