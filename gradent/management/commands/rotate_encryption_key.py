"""Re-encrypt every stored secret with the current key (GRADENT_ENCRYPTION_KEY).

Rotation: set the new key as GRADENT_ENCRYPTION_KEY and the previous one in
GRADENT_ENCRYPTION_OLD_KEYS, restart, run this command, then drop the old key.
Every EncryptedTextField of every installed model is visited (found by its class).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from gradent.lib import crypto


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with GRADENT_ENCRYPTION_KEY (old keys: GRADENT_ENCRYPTION_OLD_KEYS)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count; change nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        rotated = unreadable = 0
        for model, field in crypto.encrypted_fields():
            label = f"{model._meta.label}.{field.name}"
            for pk, stored in crypto.stored_values(model, field):
                try:
                    fresh = crypto.rotate(stored)
                except crypto.SecretUnreadable:
                    unreadable += 1
                    self.stderr.write(f"{label} of {pk}: cannot be decrypted with any configured key; left as it is")
                    continue
                rotated += 1
                if not dry_run:
                    model._default_manager.filter(pk=pk).update(**{field.name: fresh})
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(f"{verb} {rotated} secret(s); {unreadable} unreadable")
        if unreadable:
            raise CommandError(
                f"{unreadable} secret(s) could not be decrypted: "
                "add their key to GRADENT_ENCRYPTION_OLD_KEYS and run again"
            )
