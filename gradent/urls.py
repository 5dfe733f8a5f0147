from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, include, path
from django.urls.resolvers import RoutePattern
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter
from rest_framework_simplejwt.views import TokenRefreshView

from agents.api import AgentViewSet, RunViewSet, ThreadViewSet
from autonomy import api_urls as autonomy_api_urls
from gradent.health import healthz
from gradent.lockout import TokenObtainView
from notifications.api import ChannelViewSet
from proactive.api import (
    MonitorViewSet,
    PatternsView,
    ScheduleViewSet,
    SuggestionViewSet,
    TriggerViewSet,
    WebhookViewSet,
)
from proactive.hooks import receive as receive_webhook
from workspaces.api import APITokenViewSet, WorkspaceViewSet


class OptionalSlashRouter(DefaultRouter):
    """Clients of the original designs call paths with and without a trailing slash."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


def optional_slash(patterns: list) -> list:
    """Each path also with a trailing slash (`/api/autonomous/config/`), as the router's
    paths are: docs/api.md promises both. The twins are left out of the schema."""
    twins = [
        path(f"{p.pattern._route}/", p.callback, p.default_args)
        for p in patterns
        if isinstance(p, URLPattern) and isinstance(p.pattern, RoutePattern) and not str(p.pattern).endswith("/")
    ]
    return [*patterns, *twins]


router = OptionalSlashRouter()
router.register("agents", AgentViewSet, basename="agent")
router.register("runs", RunViewSet, basename="run")
router.register("threads", ThreadViewSet, basename="thread")
router.register("workspaces", WorkspaceViewSet, basename="workspace")
router.register("tokens", APITokenViewSet, basename="apitoken")
router.register("proactive/schedules", ScheduleViewSet, basename="schedule")
router.register("proactive/monitors", MonitorViewSet, basename="monitor")
router.register("proactive/triggers", TriggerViewSet, basename="trigger")
router.register("proactive/webhooks", WebhookViewSet, basename="webhook")
router.register("proactive/suggestions", SuggestionViewSet, basename="suggestion")
router.register("notifications/channels", ChannelViewSet, basename="channel")

api_urlpatterns = [
    path("auth/token", TokenObtainView.as_view(), name="token_obtain_pair"),
    path("auth/token/refresh", TokenRefreshView.as_view(), name="token_refresh"),
    path("hooks/<str:url_path>", receive_webhook, name="hook"),
    path("proactive/patterns", PatternsView.as_view(), name="patterns"),
    path("autonomous/", include((optional_slash(autonomy_api_urls.urlpatterns), autonomy_api_urls.app_name))),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file of its own: the page needs no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_urlpatterns)),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("gradent.dashboard_urls")),
    path("agents/", include("agents.urls")),
    path("proactive/", include("proactive.urls")),
    path("account/", include("workspaces.urls")),
    path("notifications/", include("notifications.urls")),
    path("autonomy/", include("autonomy.urls")),
]

# Unknown paths under /api/ answer JSON like the rest of the API.
handler400 = "gradent.api.bad_request"
handler404 = "gradent.api.not_found"
