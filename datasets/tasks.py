"""Background ingest of large dataset uploads: thin, calls the service."""
from celery import shared_task

from datasets.models import Upload
from datasets.selectors import dataset_get
from datasets.services.datasets import dataset_version_ingest
from datasets.services.uploads import upload_process


def _ingest_dataset(upload: Upload) -> dict:
    dataset = dataset_get(name=upload.target["dataset"])
    with upload.file.open("rb") as file:
        version, _ = dataset_version_ingest(dataset=dataset, file=file, source_name=upload.source_name, created_by=upload.created_by)
    return {"version": version.number, "sha256": version.sha256, "items": version.item_count}


@shared_task
def ingest_dataset_upload(upload_id: int) -> None:
    upload_process(upload_id=upload_id, ingest=_ingest_dataset)
