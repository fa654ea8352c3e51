"""Background ingest of large prediction uploads: thin, calls the service."""

from celery import shared_task

from datasets.models import Upload
from datasets.selectors import dataset_version_get
from datasets.services.ingest import ProgressFn
from datasets.services.upload_files import upload_open
from datasets.services.uploads import upload_process
from models_app.selectors import model_version_get
from models_app.services.predictions import prediction_set_ingest


def _ingest_predictions(upload: Upload, progress: ProgressFn) -> dict:
    target = upload.target
    model_version = model_version_get(model_name=target["model"], version=target["version"])
    dataset_version = dataset_version_get(dataset_name=target["dataset"], number=target["dataset_version"])
    with upload_open(upload=upload) as file:
        prediction_set, _ = prediction_set_ingest(
            model_version=model_version,
            dataset_version=dataset_version,
            file=file,
            source_name=upload.source_name,
            created_by=upload.created_by,
            progress=progress,
        )
    return {
        "prediction_set": prediction_set.pk,
        "sha256": prediction_set.sha256,
        "predictions": prediction_set.prediction_count,
    }


@shared_task
def ingest_prediction_upload(upload_id: int) -> None:
    upload_process(upload_id=upload_id, ingest=_ingest_predictions)
