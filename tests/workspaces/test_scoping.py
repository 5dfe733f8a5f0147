"""Tenancy: another workspace's objects are a 404 (they are not there, for the caller), a
viewer's writes a 403 (they can see it, so 404 would be a lie), in the API and the pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.test import APIClient

from agents.models import Agent
from tests.helpers import auth, make_agent, make_user, token_for
from workspaces.models import Membership, Workspace, personal_workspace_for
from workspaces.scoping import get_object_for_user, resolve_workspace_for_create, scope_queryset
from workspaces.services import membership_add, workspace_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def client(alice):
    c = APIClient()
    c.credentials(**auth(token_for(alice)))
    return c


@pytest.fixture
def team(alice):
    """A workspace owned by someone else, where alice is a viewer."""
    team = workspace_create(name="Team", owner=make_user("owen"))
    membership_add(workspace=team, user=alice, role=Membership.Role.VIEWER)
    return team


def test_every_user_gets_one_personal_workspace_they_own(alice):
    workspace = personal_workspace_for(alice)
    assert personal_workspace_for(alice) == workspace
    assert Workspace.objects.filter(personal_owner=alice).count() == 1
    assert Membership.objects.get(workspace=workspace, user=alice).role == Membership.Role.OWNER


def test_workspace_slugs_stay_unique(alice):
    first = workspace_create(name="Ops", owner=alice)
    second = workspace_create(name="Ops", owner=alice)
    assert (first.slug, second.slug) == ("ops", "ops-2")


def test_another_workspace_s_object_is_a_404_in_the_api(client):
    theirs = make_agent(make_user("mallory"), name="Theirs")
    assert client.get(f"/api/agents/{theirs.pk}/").status_code == 404
    assert client.patch(f"/api/agents/{theirs.pk}/", {"name": "mine"}, format="json").status_code == 404
    assert client.delete(f"/api/agents/{theirs.pk}/").status_code == 404
    assert Agent.objects.get(pk=theirs.pk).name == "Theirs"
    assert [w["name"] for w in client.get("/api/workspaces/").json()["results"]] == ["alice's workspace"]


def test_another_workspace_s_object_is_a_404_for_the_pages(alice):
    theirs = make_agent(make_user("mallory"), name="Theirs")
    assert not scope_queryset(Agent.objects.all(), alice).exists()
    with pytest.raises(Http404):
        get_object_for_user(Agent.objects.all(), alice, pk=theirs.pk)


def test_a_viewer_reads_but_a_write_is_a_403(alice, client, team):
    shared = make_agent(workspace=team, name="Shared")
    assert get_object_for_user(Agent.objects.all(), alice, pk=shared.pk) == shared
    with pytest.raises(PermissionDenied):
        get_object_for_user(Agent.objects.all(), alice, write=True, pk=shared.pk)
    assert client.get(f"/api/agents/{shared.pk}/").status_code == 200
    assert client.delete(f"/api/agents/{shared.pk}/").status_code == 403
    assert Agent.objects.filter(pk=shared.pk).exists()


def test_a_viewer_cannot_create_in_the_workspace_and_a_stranger_cannot_name_it(alice, team):
    with pytest.raises(exceptions.PermissionDenied):
        resolve_workspace_for_create(alice, team.pk)
    with pytest.raises(serializers.ValidationError) as caught:
        resolve_workspace_for_create(make_user("mallory"), team.pk)
    assert "workspace_id" in caught.value.detail
    assert resolve_workspace_for_create(alice, None) == personal_workspace_for(alice)


def test_an_editor_may_write(alice, team):
    Membership.objects.filter(workspace=team, user=alice).update(role=Membership.Role.EDITOR)
    assert resolve_workspace_for_create(alice, team.pk) == team
    shared = make_agent(workspace=team, name="Shared")
    assert get_object_for_user(Agent.objects.all(), alice, write=True, pk=shared.pk) == shared
