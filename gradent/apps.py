from django.apps import AppConfig


class GradentConfig(AppConfig):
    name = "gradent"
    verbose_name = "Gradent"
