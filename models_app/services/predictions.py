"""Ingesting a model version's predictions on a dataset version: streamed, staged, then published all or nothing."""

from django.core.files import File
from django.db import IntegrityError, connection, transaction

from core.errors import ApplicationError, ConflictError
from core.models import User
from datasets.bulkload import Staging, bulk_transaction_settings, repeated_ids
from datasets.models import DatasetVersion, Item
from datasets.parsers import MAX_REPORTED_ERRORS, ErrorCollector, RowError, validate_prediction
from datasets.readers import ByteCounter
from datasets.services.files import file_sha256, upload_errors_as_application_error
from datasets.services.ingest import PREDICTION_FIELDS, ProgressFn, no_progress, read_records, stage_records
from models_app.models import ModelVersion, Prediction, PredictionSet
from models_app.services.prediction_copy import prediction_set_copy

PREDICTION_STAGE = [("line", "integer"), ("item_id", "text"), ("output", "json"), ("score", "double precision")]


def prediction_set_ingest(
    *,
    model_version: ModelVersion,
    dataset_version: DatasetVersion,
    file: File,
    source_name: str,
    created_by: User,
    progress: ProgressFn = no_progress,
) -> tuple[PredictionSet, bool]:
    """Returns (prediction set, created). A version pair holds one immutable set; identical bytes return it.

    On PostgreSQL rows are COPYed straight into their table; a file with a wrong row, and any file on SQLite,
    is staged first, and the database then finds unknown item ids and repeats, with their lines."""
    sha256 = file_sha256(file)
    existing = _existing_set(model_version, dataset_version, sha256)
    if existing:
        return existing, False
    try:
        return _ingest_new(model_version, dataset_version, file, sha256, source_name, created_by, progress), True
    except ConflictError as exc:
        # another upload of this version pair committed while this one was read: if it held the same bytes,
        # this upload is a retry of it and gets its answer
        existing = (
            _existing_set(model_version, dataset_version, sha256) if exc.code == "prediction_set_exists" else None
        )
        if existing:
            return existing, False
        raise


def _ingest_new(
    model_version: ModelVersion,
    dataset_version: DatasetVersion,
    file: File,
    sha256: str,
    source_name: str,
    created_by: User,
    progress: ProgressFn,
) -> PredictionSet:
    if connection.vendor == "postgresql":
        with upload_errors_as_application_error():
            prediction_set = prediction_set_copy(
                model_version=model_version,
                dataset_version=dataset_version,
                file=file,
                sha256=sha256,
                source_name=source_name,
                created_by=created_by,
                progress=progress,
            )
        if prediction_set is not None:
            return prediction_set
        file.seek(0)  # read again, to name every wrong row
    errors = ErrorCollector(source_name or "upload")
    with upload_errors_as_application_error(), Staging(PREDICTION_STAGE) as stage:
        counter = ByteCounter()
        records, _ = read_records(file=file, errors=errors, counter=counter, fields=PREDICTION_FIELDS)
        stage_records(
            records=records,
            validate=lambda line, record: validate_prediction(line, record, errors),
            stage=stage,
            counter=counter,
            progress=progress,
        )
        if errors.total:
            _add_row_errors(stage, dataset_version, errors)  # one bad line does not hide the others
        elif not stage.count:
            errors.add(0, None, "holds no rows")
        errors.raise_if_any()
        progress("saving", stage.count, counter.bytes, force=True)
        return prediction_set_publish(
            model_version=model_version,
            dataset_version=dataset_version,
            stage=stage,
            errors=errors,
            sha256=sha256,
            source_name=source_name,
            created_by=created_by,
        )


def _existing_set(model_version: ModelVersion, dataset_version: DatasetVersion, sha256: str) -> PredictionSet | None:
    existing = PredictionSet.objects.filter(model_version=model_version, dataset_version=dataset_version).first()
    if existing and existing.sha256 != sha256:
        raise ConflictError(
            f"{model_version} already has different predictions on {dataset_version}; register a new model version.",
            code="prediction_set_exists",
        )
    return existing


def _add_row_errors(stage: Staging, dataset_version: DatasetVersion, errors: ErrorCollector) -> None:
    unknown = (
        f"SELECT s.line, s.item_id FROM {{stage}} s WHERE NOT EXISTS (SELECT 1 FROM {Item._meta.db_table} i "
        "WHERE i.version_id = %s AND i.external_id = s.item_id)"
    )
    rows = stage.fetch(unknown + " ORDER BY s.line LIMIT %s", [dataset_version.pk, MAX_REPORTED_ERRORS])
    total = len(rows)
    if total == MAX_REPORTED_ERRORS:
        total = stage.fetch(f"SELECT COUNT(*) FROM ({unknown}) u", [dataset_version.pk])[0][0]
    errors.merge([RowError(line, "id", f"no item {item_id!r} in {dataset_version}") for line, item_id in rows], total)
    repeats, total = repeated_ids(stage, "item_id", MAX_REPORTED_ERRORS)
    errors.merge(
        [RowError(line, "id", f"duplicates id {item_id!r} from line {first}") for line, item_id, first in repeats],
        total,
    )


def prediction_set_publish(
    *,
    model_version: ModelVersion,
    dataset_version: DatasetVersion,
    stage: Staging,
    errors: ErrorCollector,
    sha256: str,
    source_name: str,
    created_by: User,
) -> PredictionSet:
    """Staged prediction rows become the set of this version pair, in one transaction; unknown or repeated
    item ids raise with their lines."""
    try:
        with transaction.atomic():
            bulk_transaction_settings()
            prediction_set = PredictionSet.objects.create(
                model_version=model_version,
                dataset_version=dataset_version,
                sha256=sha256,
                prediction_count=stage.count,
                source_name=source_name[:255],
                created_by=created_by,
            )
            try:
                with transaction.atomic():
                    inserted = stage.execute(
                        f"INSERT INTO {Prediction._meta.db_table} (prediction_set_id, item_id, output, score) "
                        f"SELECT %s, i.id, s.output, s.score FROM {{stage}} s JOIN {Item._meta.db_table} i "
                        "ON i.version_id = %s AND i.external_id = s.item_id ORDER BY i.id",  # the unique index then grows at its end
                        [prediction_set.pk, dataset_version.pk],
                    )
            except IntegrityError:
                inserted = -1  # an item id repeated
            if inserted != stage.count:
                _add_row_errors(stage, dataset_version, errors)
                errors.raise_if_any()
                raise ApplicationError("Some predictions could not be matched to items.", code="invalid_upload")
    except IntegrityError:
        raise ConflictError(
            f"{model_version} received predictions on {dataset_version} at the same moment.",
            code="prediction_set_exists",
        ) from None
    return prediction_set
