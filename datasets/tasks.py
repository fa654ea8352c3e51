"""Background ingest of large uploads: thin, calls the services."""

from celery import shared_task

from datasets import upload_kinds
from datasets.models import Upload
from datasets.selectors import dataset_get
from datasets.services.datasets import dataset_version_ingest
from datasets.services.ingest import ProgressFn
from datasets.services.thumbnails import version_thumbnails_make
from datasets.services.upload_files import upload_open
from datasets.services.uploads import upload_process, uploads_delete_abandoned, uploads_requeue_stale


def _ingest_dataset(upload: Upload, progress: ProgressFn) -> dict:
    dataset = dataset_get(name=upload.target["dataset"])
    with upload_open(upload=upload) as file:
        version, _ = dataset_version_ingest(
            dataset=dataset,
            file=file,
            source_name=upload.source_name,
            created_by=upload.created_by,
            progress=progress,
        )
    return {"version": version.number, "sha256": version.sha256, "items": version.item_count}


@shared_task
def ingest_dataset_upload(upload_id: int) -> None:
    upload_process(upload_id=upload_id, ingest=_ingest_dataset)


@shared_task
def requeue_stale_uploads() -> int:
    """Beat: uploads whose worker died go back to a worker; resumable uploads abandoned for a day go."""
    uploads_delete_abandoned()
    requeued = uploads_requeue_stale()
    for upload in Upload.objects.filter(pk__in=requeued):
        upload_kinds.registered(upload.kind).enqueue(upload.pk)
    return len(requeued)


@shared_task
def make_thumbnails(version_id: int) -> int:
    return version_thumbnails_make(version_id=version_id)
