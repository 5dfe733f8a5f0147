from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from gradent.lib.orm import one_or_none
from workspaces.models import TOKEN_PREFIX, APIToken, hash_token


class APITokenAuthentication(authentication.BaseAuthentication):
    """Personal API tokens: `Authorization: Bearer gdt_…` (or `Token gdt_…`).

    Anything that does not look like one of ours is left to the next authenticator
    (JWT uses Bearer too).
    """

    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() not in self.keywords or not parts[1].startswith(TOKEN_PREFIX):
            return None
        token = one_or_none(APIToken.objects.select_related("user").filter(key_hash=hash_token(parts[1])))
        if token is None or token.is_expired or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or expired API token.")
        now = timezone.now()
        if token.last_used is None or now - token.last_used > timedelta(minutes=1):
            APIToken.objects.filter(pk=token.pk).update(last_used=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class APITokenScheme(OpenApiAuthenticationExtension):
    target_class = "workspaces.auth.APITokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Personal API token (gdt_…)"}
