"""Personal API tokens: stored hashed, shown once, scoped (read / write), expiring."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.helpers import auth, make_user
from workspaces.models import APIToken, hash_token

pytestmark = pytest.mark.django_db


def client_with(raw: str) -> APIClient:
    c = APIClient()
    c.credentials(**auth(raw))
    return c


def test_a_token_is_stored_hashed_and_marks_its_use():
    token, raw = APIToken.issue(user=make_user("alice"), name="ci", scope="write")
    assert raw.startswith("gdt_") and token.key_hash != raw and raw.startswith(token.prefix)
    assert token.key_hash == hash_token(raw)
    assert client_with(raw).get("/api/agents/").status_code == 200
    token.refresh_from_db()
    assert token.last_used is not None


def test_a_read_token_reads_and_cannot_write_or_mint_a_write_token():
    alice = make_user("alice")
    reader = client_with(APIToken.issue(user=alice, name="r", scope="read")[1])
    assert reader.get("/api/tokens/").status_code == 200
    response = reader.post("/api/agents/", {"name": "x", "provider": "scripted"}, format="json")
    assert response.status_code == 403
    minted = reader.post("/api/tokens/", {"name": "w", "scope": "write"}, format="json")
    assert minted.status_code == 403
    assert not APIToken.objects.filter(name="w").exists()


def test_a_write_token_mints_a_token_shown_once():
    alice = make_user("alice")
    writer = client_with(APIToken.issue(user=alice, name="w", scope="write")[1])
    response = writer.post("/api/tokens/", {"name": "new", "scope": "read"}, format="json")
    assert response.status_code == 201
    raw = response.json()["token"]
    assert APIToken.objects.get(name="new").key_hash == hash_token(raw)
    assert all("token" not in row for row in writer.get("/api/tokens/").json()["results"])


def test_an_expired_token_or_an_inactive_user_s_token_is_refused():
    alice = make_user("alice")
    raw = APIToken.issue(user=alice, name="old", scope="write", expires=timezone.now() - timedelta(seconds=1))[1]
    assert client_with(raw).get("/api/agents/").status_code == 401
    bob = make_user("bob")
    raw = APIToken.issue(user=bob, name="b", scope="write")[1]
    bob.is_active = False
    bob.save()
    assert client_with(raw).get("/api/agents/").status_code == 401


def test_one_cannot_see_or_revoke_another_user_s_token(client):
    alice, mallory = make_user("alice"), make_user("mallory")
    theirs, _ = APIToken.issue(user=mallory, name="theirs", scope="write")
    writer = client_with(APIToken.issue(user=alice, name="mine", scope="write")[1])
    assert [row["name"] for row in writer.get("/api/tokens/").json()["results"]] == ["mine"]
    assert writer.delete(f"/api/tokens/{theirs.pk}/").status_code == 404
    client.force_login(alice)
    assert client.post(reverse("workspaces:token_revoke", args=[theirs.pk])).status_code == 404
    assert APIToken.objects.filter(pk=theirs.pk).exists()
