"""The notifications app's dispatcher sources: due retries (django-q2 has no countdown, so
a retry waits in the Notification table until the dispatcher sends it) and attempts whose
worker was lost."""

from __future__ import annotations

from datetime import datetime

from agents.dispatcher import Source, TickResult
from notifications.conf import setting
from notifications.models import WAITING_STATUSES, Notification, NotificationStatus

# An attempt lasts at most the client's total timeout; past this it has no worker.
LOST_AFTER_GRACE_SECONDS = 60


class DueNotificationsSource(Source):
    """Waiting notifications that should be with a worker and are not: due retries,
    sends the broker lost, and sends that could not be enqueued."""

    name = "due_notifications"
    batch = 200

    def tick(self, now: datetime) -> TickResult:
        from notifications.services import enqueue_notification

        due = Notification.objects.due(now).order_by("next_attempt_at", "id").values_list("id", "enqueued_at")
        done = 0
        for notification_id, enqueued_at in due[: self.batch]:
            # Claim the send: only one dispatcher enqueues a given attempt.
            claimed = Notification.objects.filter(
                pk=notification_id, status__in=WAITING_STATUSES, enqueued_at=enqueued_at
            ).update(enqueued_at=now)
            if claimed and enqueue_notification(notification_id):
                done += 1
        upcoming = (
            Notification.objects.filter(
                status=NotificationStatus.RETRYING, next_attempt_at__gt=now, enqueued_at__isnull=True
            )
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        return TickResult(done=done, next_due=upcoming)


class LostNotificationsSource(Source):
    """Attempts still `sending` long after the client's total timeout: the worker died.
    Each is retried if attempts remain, else failed."""

    name = "lost_notifications"
    batch = 200

    def tick(self, now: datetime) -> TickResult:
        older_than = float(setting("GRADENT_NOTIFY_TIMEOUT")) + LOST_AFTER_GRACE_SECONDS
        done = 0
        stuck = Notification.objects.stuck_sending(now, older_than=older_than).values_list(
            "id", "attempts", "max_attempts"
        )
        for notification_id, attempts, max_attempts in stuck[: self.batch]:
            base = Notification.objects.filter(pk=notification_id, status=NotificationStatus.SENDING, attempts=attempts)
            error = f"The worker was lost during attempt {attempts}."
            if attempts < max_attempts:
                updated = base.update(
                    status=NotificationStatus.RETRYING,
                    next_attempt_at=now,
                    enqueued_at=None,
                    claimed_at=None,
                    last_error=error,
                )
            else:
                updated = base.update(status=NotificationStatus.FAILED, claimed_at=None, last_error=error)
            done += updated
        return TickResult(done=done)
