from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from agents.api import AgentViewSet, RunViewSet, ThreadViewSet
from gradent.health import healthz
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
    path("auth/token", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("auth/token/refresh", TokenRefreshView.as_view(), name="token_refresh"),
    path("hooks/<str:url_path>", receive_webhook, name="hook"),
    path("proactive/patterns", PatternsView.as_view(), name="patterns"),
    path("autonomous/", include("autonomy.api_urls")),
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
