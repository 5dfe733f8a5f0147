from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify


class WorkspaceQuerySet(models.QuerySet):
    def for_user(self, user) -> WorkspaceQuerySet:
        if not user or not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)

    def writable_by(self, user) -> WorkspaceQuerySet:
        if not user or not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user, memberships__role__in=Membership.WRITE_ROLES)


class WorkspaceManager(models.Manager.from_queryset(WorkspaceQuerySet)):
    # The creation lives on the manager (as Django's UserManager.create_user does), so that
    # `personal_workspace_for` below needs no import of workspaces.services, which imports
    # this module: the services keep their names and delegate here.
    def create_owned(self, *, name: str, owner) -> Workspace:
        """A workspace with a unique slug from its name and `owner` as its owner member."""
        with transaction.atomic():
            base = slugify(name)[:100] or "workspace"
            slug, n = base, 1
            while self.filter(slug=slug).exists():
                n += 1
                slug = f"{base}-{n}"
            workspace = self.create(name=name, slug=slug)
            Membership.objects.create(workspace=workspace, user=owner, role=Membership.Role.OWNER)
        return workspace

    def create_personal(self, *, user) -> Workspace:
        with transaction.atomic():
            workspace = self.create_owned(name=f"{user.get_username()}'s workspace", owner=user)
            workspace.personal_owner = user
            workspace.save(update_fields=["personal_owner"])
        return workspace


class Workspace(models.Model):
    name = models.CharField("name", max_length=100)
    slug = models.SlugField("slug", max_length=120, unique=True)
    personal_owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_workspace",
        help_text="Set for the workspace every user gets for themselves.",
    )
    runs_per_hour = models.PositiveIntegerField(
        "run starts per hour",
        null=True,
        blank=True,
        help_text="Quota on run starts per hour; empty uses GRADENT_RUNS_PER_HOUR.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = WorkspaceManager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def run_quota(self) -> int:
        if self.runs_per_hour is not None:
            return self.runs_per_hour
        return settings.GRADENT_RUNS_PER_HOUR


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor"
        VIEWER = "viewer", "Viewer"

    WRITE_ROLES = (Role.OWNER, Role.EDITOR)

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField("role", max_length=10, choices=Role.choices, default=Role.EDITOR)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One role per person per workspace; the scoping joins rely on it.
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in self.WRITE_ROLES


class UserProfile(models.Model):
    """A person's own settings, whatever workspace they look at: for now the zone their pages
    show times in. An empty zone means "not chosen yet": the browser's zone is filled in once
    (static/gradent.js) and UTC is shown until then."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    timezone = models.CharField(
        "time zone",
        max_length=64,
        blank=True,
        help_text="An IANA zone such as Europe/Paris; pages show times in it. Empty: the browser's zone is used.",
    )
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Profile of {self.user}"


TOKEN_PREFIX = "gdt_"  # noqa: S105 (a public prefix, not a secret)


def hash_token(raw: str) -> str:
    # Tokens are 256-bit random: a fast hash is enough (no dictionary to attack), and it
    # keeps authentication a single indexed lookup.
    return hashlib.sha256(raw.encode()).hexdigest()


class APIToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField("name", max_length=100, help_text="What this token is for.")
    scope = models.CharField("scope", max_length=5, choices=Scope.choices, default=Scope.WRITE)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise the token.")
    key_hash = models.CharField(max_length=64, unique=True)
    last_used = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, *, user, name: str, scope: str = Scope.WRITE, expires=None) -> tuple[APIToken, str]:
        """Create a token; the raw key is returned once and never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, scope=scope, prefix=raw[:10], key_hash=hash_token(raw), expires=expires
        )
        return token, raw

    @property
    def is_expired(self) -> bool:
        return self.expires is not None and self.expires <= timezone.now()


class RunCounter(models.Model):
    """Run starts per workspace per hour, counted atomically for the quota."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # One row per (workspace, hour): agents.services.start_runs creates it, locks it and
            # adds a batch's starts to it; take_slot() increments it in place.
            models.UniqueConstraint(fields=["workspace", "hour"], name="runcounter_unique_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} @ {self.hour:%Y-%m-%d %H}:00: {self.count}"

    @classmethod
    def take_slot(cls, workspace: Workspace, *, now=None) -> bool:
        """Count one run start; False when the workspace's hourly quota is used up.

        A conditional UPDATE does the check and the increment in one statement, so two
        concurrent starters can never both take the last slot.
        """
        limit = workspace.run_quota
        if limit == 0:
            return False
        now = now or timezone.now()
        hour = now.replace(minute=0, second=0, microsecond=0)
        for _ in range(2):
            updated = cls.objects.filter(workspace=workspace, hour=hour, count__lt=limit).update(count=F("count") + 1)
            if updated:
                return True
            if cls.objects.filter(workspace=workspace, hour=hour).exists():
                return False
            try:
                with transaction.atomic():
                    cls.objects.create(workspace=workspace, hour=hour, count=1)
                return True
            except IntegrityError:
                continue  # another starter created the row first: go round and update it
        return False


def personal_workspace_for(user) -> Workspace:
    workspace = Workspace.objects.filter(personal_owner=user).first()
    if workspace is None:
        workspace = Workspace.objects.create_personal(user=user)
    return workspace
