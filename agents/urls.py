from __future__ import annotations

from django.urls import path

from agents import views

app_name = "agents"
urlpatterns = [
    path("", views.agent_list, name="list"),
    path("new/", views.agent_create, name="create"),
    path("name-check/", views.agent_name_check, name="name_check"),
    path("<int:pk>/", views.agent_detail, name="detail"),
    path("<int:pk>/edit/", views.agent_edit, name="edit"),
    path("<int:pk>/delete/", views.agent_delete, name="delete"),
    path("<int:pk>/run/", views.agent_run, name="run_now"),
    path("<int:pk>/pause/", views.agent_pause_view, name="pause"),
    path("<int:pk>/resume/", views.agent_resume_view, name="resume"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/live/", views.run_live, name="run_live"),
    path("runs/<int:pk>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("runs/<int:pk>/again/", views.run_again, name="run_again"),
    path("threads/", views.thread_list, name="threads"),
    path("threads/<int:pk>/", views.thread_detail, name="thread"),
]
