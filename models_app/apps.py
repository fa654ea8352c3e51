from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from datasets import upload_kinds
        from datasets.services.ingest import PREDICTION_FIELDS
        from models_app import tasks  # noqa: F401  registers the tasks enqueued by name (core.queue, upload_kinds)

        upload_kinds.register(
            "prediction_set",
            upload_kinds.UploadKind(
                fields=PREDICTION_FIELDS,
                resolve_target=_prediction_target,
                task_name="models_app.tasks.ingest_prediction_upload",
            ),
        )


def _prediction_target(meta: dict[str, str]) -> dict:
    from datasets.selectors import dataset_version_get
    from models_app.selectors import model_version_get

    model_version_get(model_name=meta.get("model", ""), version=meta.get("version", ""))
    dataset_version = dataset_version_get(dataset_name=meta.get("dataset", ""), number=meta.get("dataset_version", ""))
    return {
        "model": meta["model"],
        "version": meta["version"],
        "dataset": dataset_version.dataset.name,
        "dataset_version": dataset_version.number,
    }
