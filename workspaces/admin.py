from __future__ import annotations

from django.contrib import admin

from workspaces.models import APIToken, Membership, RunCounter, UserProfile, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "personal_owner", "runs_per_hour", "created"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]
    readonly_fields = ["created", "updated"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["workspace", "user", "role", "created"]
    list_filter = ["role"]
    search_fields = ["workspace__name", "user__username"]


@admin.register(APIToken)
class APITokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "scope", "last_used", "expires", "created"]
    list_filter = ["scope"]
    search_fields = ["name", "user__username", "prefix"]
    # The hash is useless to a person and the raw key is never stored: create tokens on
    # the Tokens page or through the API, which show the key once.
    readonly_fields = ["prefix", "key_hash", "last_used", "created"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(RunCounter)
class RunCounterAdmin(admin.ModelAdmin):
    list_display = ["workspace", "hour", "count"]
    list_filter = ["workspace"]
    readonly_fields = ["workspace", "hour", "count"]


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "timezone", "updated"]
    search_fields = ["user__username", "timezone"]
