"""/healthz: is every part of the product alive? 200 when all are, 503 otherwise."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "detail": connection.vendor}
    except Exception as exc:
        return {"ok": False, "detail": f"{exc.__class__.__name__}: {exc}"}


def health_report() -> dict:
    from agents.dispatcher import dispatcher_status
    from agents.queueing import broker_status, cluster_status

    database = check_database()
    report = {
        "database": database,
        "broker": broker_status(),
        "cluster": cluster_status(),
        "dispatcher": dispatcher_status() if database["ok"] else {"ok": False, "detail": "no database"},
    }
    report["ok"] = all(part["ok"] for part in report.values())
    return report


@never_cache
def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
