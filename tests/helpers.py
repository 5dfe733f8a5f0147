"""Small make_* helpers, djangoproject.com style."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from agents.models import Agent
from workspaces.models import APIToken, personal_workspace_for


def make_user(username: str = "alice", password: str = "pw-Secret-123"):
    return get_user_model().objects.create_user(username=username, password=password)


def make_agent(user=None, *, workspace=None, **fields) -> Agent:
    workspace = workspace or personal_workspace_for(user or make_user())
    defaults = {
        "name": "Agent",
        "provider": "scripted",
        "provider_settings": {"steps": [], "answer": "ok"},
        "overlap_policy": "allow",
    }
    return Agent.objects.create(workspace=workspace, **{**defaults, **fields})


def token_for(user, scope: str = "write") -> str:
    return APIToken.issue(user=user, name="test", scope=scope)[1]


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
