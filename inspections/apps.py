from django.apps import AppConfig


class InspectionsConfig(AppConfig):
    name = "inspections"
    verbose_name = "Inspections"

    def ready(self) -> None:
        from datasets import upload_kinds
        from inspections import tasks  # noqa: F401  registers beat's task and the log ingest enqueued by name
        from inspections.parsers import LOG_FIELDS
        from inspections.selectors import inspection_version_panel
        from inspections.services.demo import inspection_demo_load
        from models_app import hooks
        from notifications.kinds import NotificationKind, register
        from reviews.services.demo import add_demo_extension

        hooks.add_version_panel(inspection_version_panel)
        add_demo_extension(inspection_demo_load)  # the demo's production logs and inspection
        # large log files (202, resumable tus uploads) go through datasets' shared upload machinery
        upload_kinds.register(
            "log_batch",
            upload_kinds.UploadKind(
                fields=LOG_FIELDS, resolve_target=_log_target, task_name="inspections.tasks.ingest_log_upload"
            ),
        )
        register(
            NotificationKind(
                "inspection.alert",
                "An inspection of a model of mine shows a drop in quality",
                "Sent to a model's creator and the people who registered its versions.",
            )
        )


def _log_target(meta: dict[str, str]) -> dict:
    """A resumable upload's Upload-Metadata names the model and version (404 when either is absent)."""
    from models_app.selectors import model_version_get

    model_version = model_version_get(model_name=meta.get("model", ""), version=meta.get("version", ""))
    return {"model": model_version.model.name, "version": model_version.version}
