from __future__ import annotations

from django.urls import path

from autonomy import views

app_name = "autonomy"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("mode/", views.mode, name="mode"),
    path("execute/", views.execute, name="execute"),
    path("test-channel/", views.test_channel, name="test-channel"),
    path("rules/", views.rule, name="rule"),
    path("goals/<int:pk>/", views.goal, name="goal"),
    path("insights/", views.insights, name="insights"),
    # A metric by name: in the path when the name is of the documented characters, else in
    # the query string (names stored before the rule may hold "/", "?", "#" or be "..").
    path("metrics/", views.metric, name="metric_by_query"),
    path("metrics/<str:name>/", views.metric, name="metric"),
]
