from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Signoff core"

    def ready(self) -> None:
        # Registers the `<id:…>` path converter before any URLconf is imported.
        from core import converters  # noqa: F401
