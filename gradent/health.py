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


def check_broker() -> dict:
    try:
        from django_q.brokers import get_broker

        broker = get_broker()
        if not broker.ping():
            return {"ok": False, "detail": "broker did not answer"}
        return {"ok": True, "detail": type(broker).__name__, "queued": broker.queue_size()}
    except Exception as exc:
        return {"ok": False, "detail": f"{exc.__class__.__name__}: {exc}"}


def check_cluster() -> dict:
    try:
        from django_q.status import Stat

        clusters = [s for s in Stat.get_all() if s.status not in ("Stopped",)]
    except Exception as exc:
        return {"ok": False, "detail": f"{exc.__class__.__name__}: {exc}"}
    if not clusters:
        return {"ok": False, "detail": "no worker cluster is running"}
    return {
        "ok": True,
        "detail": f"{len(clusters)} cluster(s)",
        "workers": sum(len(s.workers) for s in clusters),
    }


def health_report() -> dict:
    from agents.dispatcher import dispatcher_status

    database = check_database()
    report = {
        "database": database,
        "broker": check_broker(),
        "cluster": check_cluster(),
        "dispatcher": dispatcher_status() if database["ok"] else {"ok": False, "detail": "no database"},
    }
    report["ok"] = all(part["ok"] for part in report.values())
    return report


@never_cache
def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
