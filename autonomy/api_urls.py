from __future__ import annotations

from django.urls import path

from autonomy import api

app_name = "autonomy-api"

urlpatterns = [
    path("config", api.ConfigView.as_view(), name="config"),
    path("execute", api.ExecuteView.as_view(), name="execute"),
    path("test-webhook", api.TestWebhookView.as_view(), name="test-webhook"),
    path("metrics", api.MetricsView.as_view(), name="metrics"),
    path("events", api.EventsView.as_view(), name="events"),
    path("rules", api.RulesView.as_view(), name="rules"),
    path("status", api.StatusView.as_view(), name="status"),
    path("cycles", api.CyclesView.as_view(), name="cycles"),
    path("goals", api.GoalsView.as_view(), name="goals"),
    path("goals/<int:goal_id>", api.GoalDetailView.as_view(), name="goal"),
    path("goals/<int:goal_id>/plan", api.GoalPlanView.as_view(), name="goal-plan"),
    path("predictions", api.PredictionsView.as_view(), name="predictions"),
    path("analysis/trigger", api.AnalysisTriggerView.as_view(), name="analysis-trigger"),
    path("mode", api.ModeView.as_view(), name="mode"),
    path("report", api.ReportView.as_view(), name="report"),
    path("executor/statistics", api.ExecutorStatisticsView.as_view(), name="executor-statistics"),
    path("executor/insights", api.ExecutorInsightsView.as_view(), name="executor-insights"),
]
