from django.apps import AppConfig


class GradentConfig(AppConfig):
    name = "gradent"
    verbose_name = "Gradent"

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.admin import options as admin_options
        from django.db import models
        from rest_framework import serializers

        from gradent.api import JSONField
        from gradent.lib.jsonutil import StrictJSONDecoder

        # Every JSON column is decoded strictly where people type it (issue 9): in the API
        # (a ModelSerializer's field for a form-encoded request) and in the admin's forms.
        serializers.ModelSerializer.serializer_field_mapping[models.JSONField] = JSONField
        # The admin copies these defaults into each ModelAdmin it creates: the ones already
        # registered (autodiscover ran in the admin's own ready()) are given them directly.
        admin_options.FORMFIELD_FOR_DBFIELD_DEFAULTS.setdefault(models.JSONField, {"decoder": StrictJSONDecoder})
        for model_admin in admin.site._registry.values():
            model_admin.formfield_overrides.setdefault(models.JSONField, {}).setdefault("decoder", StrictJSONDecoder)
        from gradent import checks  # noqa: F401 - registers the checks
