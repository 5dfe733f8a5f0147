from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def give_every_user_a_workspace(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        from workspaces.services import workspace_create_personal

        workspace_create_personal(user=instance)
