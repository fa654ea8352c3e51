from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"

    def ready(self) -> None:
        from datasets import (
            tasks,  # noqa: F401  registers the tasks enqueued by name (core.queue, upload_kinds)
            upload_kinds,
        )
        from datasets.selectors import dataset_get
        from datasets.services.ingest import ITEM_FIELDS

        upload_kinds.register(
            "dataset_version",
            upload_kinds.UploadKind(
                fields=ITEM_FIELDS,
                resolve_target=lambda meta: {"dataset": dataset_get(name=meta.get("dataset", "")).name},
                task_name="datasets.tasks.ingest_dataset_upload",
            ),
        )
