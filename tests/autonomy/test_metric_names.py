"""Metric names (issue 9, item 10): a documented character set on the way in, with a 400
naming the field, and pages that work for any name already stored (``disk/used`` used to
make /autonomy/ answer 500 from then on)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agents.services import start_run
from agents.tasks import execute_run
from autonomy.models import Goal, MetricPoint, MetricRule
from tests.helpers import auth, make_agent, make_user, token_for
from workspaces.models import personal_workspace_for

pytestmark = pytest.mark.django_db

BAD_NAMES = ["disk/used", "cpu usage", "a?b", "x#y", "50%", "ünïcode", "", "x" * 101, " ", "a\nb"]
GOOD_NAMES = ["cpu_usage", "disk.used", "host:cpu", "queue-depth", "A9", "x" * 100]
# What may already be stored from before the rule: every page must survive these.
STORED_NAMES = ["disk/used", "..", ".", "a/../b", "a?b=c#d", "50%", "space name", "ünïcode", "/lead", "trail/"]


@pytest.fixture
def alice():
    return make_user("alice")


def post(user, path: str, data: dict):
    body = json.dumps(data)
    return Client().post(f"/api/autonomous/{path}", body, content_type="application/json", **auth(token_for(user)))


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_api_refuses_a_metric_name_outside_the_set(alice, name):
    response = post(alice, "metrics", {"metric_name": name, "value": 1})
    assert response.status_code == 400
    assert "metric_name" in response.json()
    batch = post(alice, "metrics", {"metrics": [{"metric_name": "ok", "value": 1}, {"metric_name": name, "value": 2}]})
    assert batch.status_code == 400
    assert "metric_name" in batch.json()["metrics"]["1"]
    rule = post(alice, "rules", {"metric_name": name, "critical": 90})
    assert rule.status_code == 400
    assert "metric_name" in rule.json()
    assert not MetricPoint.objects.exists()
    assert not MetricRule.objects.filter(metric_name=name).exists()


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_the_api_accepts_the_documented_characters(alice, name):
    assert post(alice, "metrics", {"metric_name": name, "value": 1}).status_code == 201
    assert post(alice, "rules", {"metric_name": name, "critical": 90}).status_code == 200
    assert MetricPoint.objects.get().name == name


def test_the_record_metric_tool_uses_the_same_set(alice):
    agent = make_agent(
        alice,
        provider_settings={"steps": [{"tool": "record_metric", "args": {"metric_name": "disk/used", "value": 1}}]},
        allowed_tools=["record_metric"],
    )
    run = start_run(agent)
    execute_run(run.pk)
    assert "metric_name" in run.steps.get().error
    assert not MetricPoint.objects.exists()


def test_the_collectors_names_are_in_the_set(alice):
    from autonomy import collector
    from autonomy.models import is_metric_name

    names = collector.collect(personal_workspace_for(alice), now=timezone.now())
    assert names and all(is_metric_name(name) for name in names)


@pytest.fixture
def stored(alice):
    """Points and a goal under every awkward name, as an older version could store them."""
    workspace = personal_workspace_for(alice)
    now = timezone.now() - timedelta(minutes=1)
    goals = {}
    for name in [*STORED_NAMES, "cpu"]:
        for k in range(6):
            MetricPoint.objects.create(workspace=workspace, name=name, value=50 + k, at=now - timedelta(hours=5 - k))
        goals[name] = Goal.objects.create(
            workspace=workspace, goal_type="cost_reduction", title=f"Watch {name}", metric_name=name, cause=name
        )
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    return client, goals


def _links(html: str) -> list[str]:
    import re
    from html import unescape

    return [unescape(href) for href in re.findall(r'href="(/autonomy/metrics/[^"]*)"', html)]


def test_the_overview_links_every_stored_metric_to_its_page(stored):
    client, _goals = stored
    page = client.get("/autonomy/")
    assert page.status_code == 200
    links = _links(page.content.decode())
    assert len(links) == len(STORED_NAMES) + 1
    assert "/autonomy/metrics/cpu/" in links  # a documented name keeps its path
    for link in links:
        response = client.get(link)
        assert response.status_code == 200, link
        assert response.context["name"] in [*STORED_NAMES, "cpu"]
    shown = {client.get(link).context["name"] for link in links}
    assert shown == {*STORED_NAMES, "cpu"}


@pytest.mark.parametrize("name", STORED_NAMES)
def test_a_goal_page_links_its_stored_metric(stored, name):
    client, goals = stored
    page = client.get(f"/autonomy/goals/{goals[name].pk}/")
    assert page.status_code == 200
    [link] = _links(page.content.decode())
    assert client.get(link).context["name"] == name


def test_an_unknown_or_missing_name_is_a_404(stored):
    client, _goals = stored
    assert client.get("/autonomy/metrics/?name=nothing").status_code == 404
    assert client.get("/autonomy/metrics/").status_code == 404
    assert client.get("/autonomy/metrics/nothing/").status_code == 404
