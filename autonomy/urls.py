from __future__ import annotations

from django.urls import path

from autonomy import views

app_name = "autonomy"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("mode/", views.mode, name="mode"),
    path("metrics/<str:name>/", views.metric, name="metric"),
]
