from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from rest_framework.exceptions import ValidationError as DRFValidationError

from gradent.lib.jsonutil import StrictJSONDecoder
from notifications.models import Channel, Notification
from notifications.serializers import describe_channel, validate_channel_config
from notifications.services import channel_enable, channel_send_test, notification_resend
from notifications.transports import get_transport_class, kind_choices


class ChannelAdminForm(forms.ModelForm):
    secret_config = forms.JSONField(
        decoder=StrictJSONDecoder,
        label="Secret settings",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            'A JSON object of the kind\'s secret settings, e.g. {"url": "https://discord.com/api/webhooks/…"} or '
            '{"token": "tk_…"}. Stored encrypted. Leave blank to keep the stored ones.'
        ),
    )

    kind = forms.ChoiceField(choices=())

    class Meta:
        model = Channel
        fields = [
            "workspace", "name", "kind", "config", "secret_config", "events", "agents", "enabled", "disabled_reason",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kind_choices()

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if not kind:
            return cleaned
        config = dict(cleaned.get("config") or {})
        config.update(cleaned.get("secret_config") or {})
        stored = self.instance.secrets if self.instance.pk and self.instance.kind == kind else None
        try:
            cleaned["full_config"] = validate_channel_config(kind=kind, config=config, stored=stored)
        except DRFValidationError as exc:
            self.add_error("config", json.dumps(exc.detail.get("config", exc.detail), default=str))
        return cleaned

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        channel.set_full_config(
            self.cleaned_data["full_config"], secret_fields=get_transport_class(channel.kind).secret_fields
        )
        if commit:
            channel.save()
            self.save_m2m()
        return channel


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelAdminForm
    list_display = ["name", "workspace", "kind", "target", "enabled", "disabled_reason", "updated"]
    list_filter = ["kind", "enabled", "workspace"]
    search_fields = ["name"]
    filter_horizontal = ["agents"]
    readonly_fields = ["created", "updated"]
    actions = ["send_test", "re_enable"]

    @admin.display(description="Sends to")
    def target(self, channel: Channel) -> str:
        return describe_channel(channel)

    @admin.action(description="Send a test message")
    def send_test(self, request, queryset):
        for channel in queryset:
            _, result, error = channel_send_test(channel=channel, sender=request.user.get_username())
            if result is None:
                self.message_user(request, f"{channel}: not accepted: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{channel}: sent. {result.detail or result.answer}"[:500])

    @admin.action(description="Re-enable")
    def re_enable(self, request, queryset):
        for channel in queryset:
            channel_enable(channel=channel)
        self.message_user(request, f"Enabled {queryset.count()} channel(s).")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "event", "title", "status", "attempts", "peer_status", "created", "sent_at"]
    list_filter = ["status", "event", "channel__kind"]
    search_fields = ["title", "last_error"]
    list_select_related = ["channel"]
    readonly_fields = [field.name for field in Notification._meta.fields]
    actions = ["resend"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Send again (as a new notification)")
    def resend(self, request, queryset):
        for notification in queryset:
            notification_resend(notification=notification)
        self.message_user(request, f"Queued {queryset.count()} notification(s) again.")
