"""A logging filter that keeps the terminal to what a person needs: start-up, warnings,
errors, failed runs. Lines written for every request or every task (django-q's "processing"
/ "Processed" / "Enqueued", Django's warning per 4xx answer, django-axes' info per login)
are dropped unless GRADENT_VERBOSE is on (`manage.py up --verbose`)."""

from __future__ import annotations

import logging

from django.conf import settings


def is_per_request_or_task(record: logging.LogRecord) -> bool:
    if record.name == "django-q" and record.levelno == logging.INFO:
        message = record.getMessage()
        return (
            (record.module == "worker" and " processing " in message)
            or (record.module == "monitor" and message.startswith("Processed "))
            or (record.module == "tasks" and message.startswith("Enqueued "))
        )
    if record.name == "django.request":
        return record.levelno < logging.ERROR
    if record.name.startswith("axes"):
        return record.levelno < logging.WARNING
    return False


class QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(settings, "GRADENT_VERBOSE", True):
            return True
        return not is_per_request_or_task(record)
