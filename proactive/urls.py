from __future__ import annotations

from django.urls import path

from proactive import views

app_name = "proactive"
urlpatterns = [
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/new/", views.schedule_create, name="schedule_create"),
    path("schedules/preview/", views.schedule_preview, name="schedule_preview"),
    path("schedules/name-check/", views.schedule_name_check, name="schedule_name_check"),
    path("schedules/<int:pk>/", views.schedule_detail, name="schedule"),
    path("schedules/<int:pk>/edit/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:pk>/delete/", views.schedule_delete, name="schedule_delete"),
    path("schedules/<int:pk>/run/", views.schedule_run_view, name="schedule_run"),
    path("schedules/<int:pk>/pause/", views.schedule_pause_view, name="schedule_pause"),
    path("schedules/<int:pk>/resume/", views.schedule_resume_view, name="schedule_resume"),
    path("monitors/", views.monitor_list, name="monitors"),
    path("monitors/new/", views.monitor_create, name="monitor_create"),
    path("monitors/<int:pk>/", views.monitor_detail, name="monitor"),
    path("monitors/<int:pk>/edit/", views.monitor_edit, name="monitor_edit"),
    path("monitors/<int:pk>/delete/", views.monitor_delete, name="monitor_delete"),
    path("monitors/<int:pk>/check/", views.monitor_check_view, name="monitor_check"),
    path("monitors/<int:pk>/pause/", views.monitor_pause_view, name="monitor_pause"),
    path("monitors/<int:pk>/resume/", views.monitor_resume_view, name="monitor_resume"),
    path("triggers/", views.trigger_list, name="triggers"),
    path("triggers/new/", views.trigger_create, name="trigger_create"),
    path("triggers/<int:pk>/", views.trigger_detail, name="trigger"),
    path("triggers/<int:pk>/edit/", views.trigger_edit, name="trigger_edit"),
    path("triggers/<int:pk>/delete/", views.trigger_delete, name="trigger_delete"),
    path("triggers/<int:pk>/fire/", views.trigger_fire_view, name="trigger_fire"),
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/new/", views.webhook_create, name="webhook_create"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path("webhooks/<int:pk>/regenerate-secret/", views.webhook_regenerate, name="webhook_regenerate"),
    path("webhooks/<int:pk>/send-test/", views.webhook_send_test, name="webhook_send_test"),
    path("webhooks/<int:pk>/deliveries/<int:delivery_pk>/", views.delivery_detail, name="delivery"),
    path("webhooks/<int:pk>/deliveries/<int:delivery_pk>/replay/", views.delivery_replay, name="delivery_replay"),
    path("suggestions/", views.suggestion_list, name="suggestions"),
    path("suggestions/mine/", views.suggestion_mine, name="suggestion_mine"),
    path("suggestions/<int:pk>/accept/", views.suggestion_accept_view, name="suggestion_accept"),
    path("suggestions/<int:pk>/dismiss/", views.suggestion_dismiss_view, name="suggestion_dismiss"),
]
