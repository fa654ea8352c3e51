from django.apps import AppConfig


class InspectionsConfig(AppConfig):
    name = "inspections"
    verbose_name = "Inspections"

    def ready(self) -> None:
        from inspections import tasks  # noqa: F401  registers beat's task
        from inspections.selectors import inspection_version_panel
        from models_app import hooks
        from notifications.kinds import NotificationKind, register

        hooks.add_version_panel(inspection_version_panel)
        register(
            NotificationKind(
                "inspection.alert",
                "An inspection of a model of mine shows a drop in quality",
                "Sent to a model's creator and the people who registered its versions.",
            )
        )
