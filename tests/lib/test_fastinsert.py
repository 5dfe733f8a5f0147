"""gradent.lib.fastinsert writes exactly what QuerySet.bulk_create writes, column by column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.query import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent, Run, RunStatus
from gradent.lib import crypto
from gradent.lib.fastinsert import bulk_insert
from tests.helpers import make_agent, make_user

pytestmark = pytest.mark.django_db(transaction=True)

AUTO_NOW = {"created", "updated"}


def raw_rows(model, pks) -> list[dict]:
    """The stored columns of these rows, in the order of `pks`, as the database holds them."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id IN ({', '.join(['%s'] * len(pks))})", list(pks))
        names = [column[0] for column in cursor.description]
        by_pk = {row[names.index("id")]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    return [by_pk[pk] for pk in pks]


def assert_same_rows(model, orm_pks, fast_pks, *, differ=()):
    assert len(orm_pks) == len(fast_pks)
    for orm, fast in zip(raw_rows(model, orm_pks), raw_rows(model, fast_pks), strict=True):
        assert set(orm) == set(fast)
        for column in orm:
            if column == "id" or column in differ:
                continue
            if column in AUTO_NOW:  # the instant of the insert: both set, a moment apart
                assert type(orm[column]) is type(fast[column]) and orm[column] and fast[column]
                continue
            assert orm[column] == fast[column], column


def runs(agent, thread, tag: str) -> list[Run]:
    when = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)
    return [
        Run(
            workspace_id=agent.workspace_id,
            agent=agent,
            thread=thread,
            source="schedule" if i % 2 else "webhook",
            source_ref=f"ref-{i % 3}",
            input={"n": i, "text": "žluťoučký 🐴", "nested": {"list": [1, 2.5, None, True]}} if i % 3 else {},
            payload={} if i % 2 else {"event": "push"},
            max_attempts=3,
            overlap_policy="allow",
            scheduled_for=when + timedelta(minutes=i % 4) if i % 5 else None,
            slot_key=f"{tag}-{i}",
            status=RunStatus.QUEUED if i % 7 else RunStatus.SKIPPED,
            reason="" if i % 7 else "Skipped: overlap",
            enqueued_at=when if i % 7 else None,
            finished_at=None if i % 7 else when,
            cost_usd=Decimal("0.000123") if i % 4 == 0 else Decimal("0"),
            input_tokens=i * 10,
        )
        for i in range(60)
    ]


def no_bulk_create(monkeypatch):
    """Make sure the fast path is taken: the fallback would fail."""

    def refuse(*args, **kwargs):
        raise AssertionError("bulk_insert fell back to bulk_create")

    monkeypatch.setattr(QuerySet, "bulk_create", refuse)


def test_runs_are_stored_as_bulk_create_stores_them(monkeypatch):
    agent = make_agent(make_user())
    thread = agent.primary_thread()
    orm = runs(agent, thread, "orm")
    fast = runs(agent, thread, "fast")
    with transaction.atomic():
        Run.objects.bulk_create(orm)
    no_bulk_create(monkeypatch)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        bulk_insert(fast)
    inserts = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(inserts) == 1  # 60 rows, one statement
    if connection.vendor == "postgresql":  # one array per column, as bulk_create does there
        assert "UNNEST(" in inserts[0] and inserts[0].count("[]") == len(Run._meta.concrete_fields) - 1

    assert all(run.pk and not run._state.adding and run._state.db == "default" for run in fast)
    assert len({run.pk for run in fast}) == len(fast)
    assert_same_rows(Run, [r.pk for r in orm], [r.pk for r in fast], differ={"slot_key"})
    # And read back through the ORM, field by field.
    for a, b in zip(Run.objects.filter(pk__in=[r.pk for r in orm]).order_by("pk"),
                    Run.objects.filter(pk__in=[r.pk for r in fast]).order_by("pk"), strict=True):  # fmt: skip
        for field in Run._meta.concrete_fields:
            if field.attname not in {"id", "slot_key", *AUTO_NOW}:
                assert getattr(a, field.attname) == getattr(b, field.attname), field.attname


def test_auto_now_fields_take_one_instant_per_batch_set_on_the_objects_too(monkeypatch):
    agent = make_agent(make_user())
    before = timezone.now()
    batch = runs(agent, agent.primary_thread(), "now")
    no_bulk_create(monkeypatch)
    bulk_insert(batch)
    instants = {(run.created, run.updated) for run in batch}
    assert len(instants) == 1
    ((created, updated),) = instants
    assert created == updated and before <= created <= timezone.now()
    stored = set(Run.objects.filter(pk__in=[r.pk for r in batch]).values_list("created", "updated"))
    assert stored == {(created, updated)}


def test_a_field_with_a_pre_save_of_its_own_gets_it_called_per_row(monkeypatch):
    calls = []

    def pre_save(obj, add):
        calls.append((obj.name, add))
        return f"{obj.name}-saved"

    workspace = make_agent(make_user()).workspace
    monkeypatch.setattr(Agent._meta.get_field("description"), "pre_save", pre_save, raising=False)
    fast = [Agent(workspace=workspace, name=f"own-{i}", provider="scripted") for i in range(3)]
    no_bulk_create(monkeypatch)
    bulk_insert(fast)
    assert calls == [(f"own-{i}", True) for i in range(3)]
    assert list(Agent.objects.filter(name__startswith="own-").order_by("pk").values_list("description", flat=True)) == [
        f"own-{i}-saved" for i in range(3)
    ]


def test_encrypted_fields_are_encrypted_row_by_row(monkeypatch):
    user = make_user()
    workspace = make_agent(user).workspace

    def agents(tag):
        return [
            Agent(workspace=workspace, name=f"{tag}-{i}", provider="scripted", api_key="sk-same-secret")
            for i in range(3)
        ]

    orm, fast = agents("orm"), agents("fast")
    Agent.objects.bulk_create(orm)
    no_bulk_create(monkeypatch)
    bulk_insert(fast)
    assert_same_rows(Agent, [a.pk for a in orm], [a.pk for a in fast], differ={"name", "api_key"})
    stored = [row["api_key"] for row in raw_rows(Agent, [a.pk for a in fast])]
    # Encrypted like the ORM encrypts (readable with the key), and never one ciphertext shared.
    assert all(value.startswith(crypto.PREFIX) and "sk-same-secret" not in value for value in stored)
    assert len(set(stored)) == 3
    assert [a.api_key for a in Agent.objects.filter(pk__in=[a.pk for a in fast])] == ["sk-same-secret"] * 3


def test_a_taken_unique_value_fails_the_whole_batch_like_bulk_create():
    agent = make_agent(make_user())
    thread = agent.primary_thread()
    batch = runs(agent, thread, "dup")[:3]
    bulk_insert(batch)
    again = runs(agent, thread, "dup")[:3]
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(again)
    assert Run.objects.filter(slot_key__startswith="dup-").count() == 3


def test_objects_it_does_not_handle_go_to_bulk_create():
    agent = make_agent(make_user())
    thread = agent.primary_thread()
    preset = runs(agent, thread, "preset")[:2]
    preset[0].pk, preset[1].pk = 900_001, 900_002
    bulk_insert(preset)
    assert set(Run.objects.filter(slot_key__startswith="preset-").values_list("pk", flat=True)) == {900_001, 900_002}
    bulk_insert([])  # nothing to do
