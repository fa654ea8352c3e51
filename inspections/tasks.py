"""Beat's inspection sweep, and the worker's read of a large log upload: thin tasks over the services."""

from celery import shared_task

from datasets.models import Upload
from datasets.services.ingest import ProgressFn
from datasets.services.upload_files import upload_open
from datasets.services.uploads import upload_process
from inspections.api.serializers import LogBatchSerializer
from inspections.models import InspectionSchedule
from inspections.services.alerts import inspection_alerts_check
from inspections.services.logs import log_batch_ingest
from inspections.services.schedules import inspections_run_due
from models_app.selectors import model_version_get


@shared_task(ignore_result=True)
def inspections_run_due_task() -> int:
    """Run each schedule's latest complete period once, then check every schedule for an alert."""
    created = inspections_run_due()
    for schedule in InspectionSchedule.objects.filter(is_active=True).select_related("model"):
        inspection_alerts_check(schedule=schedule)
    return len(created)


def _ingest_logs(upload: Upload, progress: ProgressFn) -> dict:
    model_version = model_version_get(model_name=upload.target["model"], version=upload.target["version"])
    with upload_open(upload=upload) as file:
        batch, _ = log_batch_ingest(
            model_version=model_version,
            file=file,
            source_name=upload.source_name,
            created_by=upload.created_by,
            progress=progress,
            received_at=upload.created_at,  # a line without `at` is logged when the client sent it
        )
    # the upload's result is what the request would have answered (201's body), so a client reads one shape
    return dict(LogBatchSerializer(batch).data)


@shared_task
def ingest_log_upload(upload_id: int) -> None:
    upload_process(upload_id=upload_id, ingest=_ingest_logs)
