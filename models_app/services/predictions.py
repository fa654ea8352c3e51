"""Ingesting a model version's predictions on a dataset version, all or nothing."""
from django.core.files import File
from django.db import IntegrityError, transaction

from core.errors import ConflictError
from core.models import User
from datasets.models import DatasetVersion
from datasets.parsers import parse_predictions
from datasets.services.files import file_lines, file_sha256, upload_errors_as_application_error
from models_app.models import ModelVersion, Prediction, PredictionSet

PREDICTION_BATCH = 5000


def prediction_set_ingest(
    *, model_version: ModelVersion, dataset_version: DatasetVersion, file: File, source_name: str, created_by: User
) -> tuple[PredictionSet, bool]:
    """Returns (prediction set, created). A version pair holds one immutable set; identical bytes return it."""
    sha256 = file_sha256(file)
    existing = PredictionSet.objects.filter(model_version=model_version, dataset_version=dataset_version).first()
    if existing:
        if existing.sha256 == sha256:
            return existing, False
        raise ConflictError(
            f"{model_version} already has different predictions on {dataset_version}; register a new model version.",
            code="prediction_set_exists",
        )
    item_ids = dict(dataset_version.items.values_list("external_id", "id"))
    with upload_errors_as_application_error():
        rows = parse_predictions(file_lines(file), source_name or "upload", set(item_ids))
    try:
        with transaction.atomic():
            prediction_set = PredictionSet.objects.create(
                model_version=model_version, dataset_version=dataset_version, sha256=sha256,
                prediction_count=len(rows), source_name=source_name[:255], created_by=created_by,
            )
            Prediction.objects.bulk_create(
                (Prediction(prediction_set=prediction_set, item_id=item_ids[row.item_id], output=row.output, score=row.score) for row in rows),
                batch_size=PREDICTION_BATCH,
            )
    except IntegrityError:
        raise ConflictError(f"{model_version} received predictions on {dataset_version} at the same moment.", code="prediction_set_exists") from None
    return prediction_set, True
