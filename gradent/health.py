"""/healthz: is every part of the product alive? 200 when all are, 503 otherwise."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

NOT_MIGRATED = "the database has no tables yet: run `python manage.py migrate`"


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        tables = set(connection.introspection.table_names())
    except Exception as exc:
        return {"ok": False, "detail": f"{exc.__class__.__name__}: {exc}"}
    from agents.models import DispatcherHeartbeat

    if not {"django_migrations", DispatcherHeartbeat._meta.db_table} <= tables:
        return {"ok": False, "detail": NOT_MIGRATED}
    return {"ok": True, "detail": connection.vendor}


def _dispatcher_status() -> dict:
    from agents.dispatcher import dispatcher_status

    try:
        return dispatcher_status()
    except DatabaseError as exc:  # a migration not applied yet, say
        return {"ok": False, "detail": f"{exc.__class__.__name__}: {exc}"}


def health_report() -> dict:
    from agents.queueing import broker_status, cluster_status

    database = check_database()
    report = {
        "database": database,
        "broker": broker_status(),
        "cluster": cluster_status(),
        "dispatcher": _dispatcher_status() if database["ok"] else {"ok": False, "detail": "no database"},
    }
    report["ok"] = all(part["ok"] for part in report.values())
    return report


@never_cache
def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
