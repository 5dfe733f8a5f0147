"""gradent.lib.bulkinsert: the rows it writes read back as the ORM wrote them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from agents.models import Run, RunSource, RunStatus
from gradent.lib.bulkinsert import bulk_insert
from tests.helpers import make_agent

pytestmark = pytest.mark.django_db


def test_rows_read_back_as_written_and_pks_are_set_in_order():
    agent = make_agent()
    slot = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    runs = [
        Run(
            workspace_id=agent.workspace_id,
            agent=agent,
            source=RunSource.SCHEDULE,  # a choices member, not a plain str
            status=RunStatus.QUEUED,
            input={"task": f"n{i}", "nested": {"ü": [1, 2.5, None]}},
            payload={},
            scheduled_for=slot,
            slot_key=f"s:{i}",
            cost_usd=Decimal("0.00012345"),
        )
        for i in range(7)
    ]
    bulk_insert(runs, chunk=3)  # three statements
    assert [r.pk for r in runs] == sorted(r.pk for r in runs) and len({r.pk for r in runs}) == 7
    for run in runs:
        stored = Run.objects.get(pk=run.pk)
        assert stored.slot_key == run.slot_key
        assert stored.input == run.input
        assert (stored.source, stored.status) == ("schedule", "queued")
        assert stored.scheduled_for == slot
        assert stored.cost_usd == Decimal("0.00012345")
        assert stored.created is not None and stored.created == stored.updated  # auto_now(_add) filled


def test_a_unique_conflict_raises_and_writes_none_of_the_statement():
    agent = make_agent()
    Run.objects.create(workspace_id=agent.workspace_id, agent=agent, slot_key="taken")
    batch = [Run(workspace_id=agent.workspace_id, agent=agent, slot_key=key) for key in ("fresh", "taken")]
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(batch)
    assert not Run.objects.filter(slot_key="fresh").exists()
