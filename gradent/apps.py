from django.apps import AppConfig


class GradentConfig(AppConfig):
    name = "gradent"
    verbose_name = "Gradent"

    def ready(self) -> None:
        from gradent import checks  # noqa: F401 - registers the checks
