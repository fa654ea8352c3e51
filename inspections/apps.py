from django.apps import AppConfig


class InspectionsConfig(AppConfig):
    name = "inspections"
    verbose_name = "Inspections"

    def ready(self) -> None:
        from inspections import tasks  # noqa: F401  registers beat's task
        from inspections.selectors import inspection_version_panel
        from inspections.services.demo import inspection_demo_load
        from models_app import hooks
        from notifications.kinds import NotificationKind, register
        from reviews.services.demo import add_demo_extension

        hooks.add_version_panel(inspection_version_panel)
        add_demo_extension(inspection_demo_load)  # the demo's production logs and inspection
        register(
            NotificationKind(
                "inspection.alert",
                "An inspection of a model of mine shows a drop in quality",
                "Sent to a model's creator and the people who registered its versions.",
            )
        )
