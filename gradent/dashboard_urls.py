from __future__ import annotations

from django.urls import path

from gradent import views

app_name = "dashboard"
urlpatterns = [path("", views.overview, name="overview")]
