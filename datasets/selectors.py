"""Reads of datasets: lookups that answer 'not found' in the API's words."""

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from core.errors import NotFoundError
from datasets.models import Dataset, DatasetVersion, Upload


def datasets_with_versions() -> QuerySet[Dataset]:
    """Every dataset, by name, with its versions (the datasets page and the API's list)."""
    return Dataset.objects.prefetch_related("versions").order_by("name")


def dataset_get(*, name: str) -> Dataset:
    dataset = Dataset.objects.filter(name=name).first()
    if dataset is None:
        raise NotFoundError(f"No dataset named {name!r}.", code="dataset_not_found")
    return dataset


def dataset_version_get(*, dataset_name: str, number: int | str) -> DatasetVersion:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise NotFoundError(
            f"Dataset version must be a number, got {number!r}.", code="dataset_version_not_found"
        ) from None
    version = DatasetVersion.objects.select_related("dataset").filter(dataset__name=dataset_name, number=number).first()
    if version is None:
        raise NotFoundError(f"No version {number} of dataset {dataset_name!r}.", code="dataset_version_not_found")
    return version


def upload_progress(upload: Upload, now: datetime | None = None) -> dict:
    """How far a background upload has got, with its pace and the time left estimated from the bytes read."""
    now = now or timezone.now()
    total = upload.bytes_total or 0
    fraction = 1.0 if upload.status == Upload.Status.READY else (min(upload.bytes_done / total, 1.0) if total else 0.0)
    elapsed = (now - upload.started_at).total_seconds() if upload.started_at else 0.0
    rows = _upload_rows(upload)
    rate, seconds_left = _upload_pace(upload, rows, fraction, elapsed)
    return {
        "phase": upload.phase or upload.status,
        "rows": rows,
        "bytes_done": min(upload.bytes_done, total) if total else 0,
        "bytes_total": total,
        "fraction": round(fraction, 4),
        "rows_per_second": round(rate, 1) if rate is not None else None,
        "seconds_left": seconds_left,
    }


def _upload_rows(upload: Upload) -> int:
    """Rows read so far; once ready, the rows the version or set holds."""
    if upload.status == Upload.Status.READY and upload.result:
        # each kind's result names its count as its own endpoint does: items, predictions, logs (inspections/)
        counts = [upload.result[key] for key in ("items", "predictions", "logs") if key in upload.result]
        return counts[0] if counts else upload.rows_done
    return upload.rows_done


def _upload_pace(upload: Upload, rows: int, fraction: float, elapsed: float) -> tuple[float | None, float | None]:
    """(rows per second, seconds left) while the upload is being read; neither before or after."""
    if upload.status != Upload.Status.PROCESSING or elapsed <= 0:
        return None, None
    seconds_left = round(elapsed * (1 - fraction) / fraction, 1) if 0 < fraction < 1 else None
    return rows / elapsed, seconds_left
