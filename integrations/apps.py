from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations import tasks  # noqa: F401  registers the tasks enqueued by name (core.queue)
        from integrations.selectors import mlflow_version_panel
        from integrations.services.mlflow_out import mlflow_stage_changed
        from models_app import hooks

        # always plugged in; each checks SIGNOFF_MLFLOW_TRACKING_URI when called, so settings may change under tests
        hooks.on_stage_change(mlflow_stage_changed)
        hooks.add_version_panel(mlflow_version_panel)
