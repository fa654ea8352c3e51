"""Creating datasets and ingesting their versions: streamed, staged (or COPYed), then published all or nothing."""

from django.core.files import File
from django.db import IntegrityError, connection, transaction

from core.errors import ConflictError
from core.models import User
from core.queue import task_enqueue_on_commit
from datasets.bulkload import Staging, bulk_transaction_settings, refresh_statistics, repeated_ids
from datasets.models import Dataset, DatasetVersion, Item
from datasets.parsers import MAX_REPORTED_ERRORS, ErrorCollector, RowError, validate_item
from datasets.readers import ByteCounter
from datasets.services.files import file_sha256, upload_errors_as_application_error
from datasets.services.ingest import ITEM_FIELDS, ProgressFn, StoredImages, no_progress, read_records, stage_records
from datasets.services.item_copy import dataset_version_copy
from datasets.services.versions import dataset_version_open

ITEM_STAGE = [
    ("line", "integer"),
    ("external_id", "text"),
    ("input", "json"),
    ("reference", "json"),
    ("tags", "json"),
    ("image", "text"),
]


def dataset_create(*, name: str, description: str = "", created_by: User) -> Dataset:
    try:
        with transaction.atomic():
            return Dataset.objects.create(name=name, description=description, created_by=created_by)
    except IntegrityError:
        raise ConflictError(f"A dataset named {name!r} already exists.", code="dataset_exists") from None


def dataset_version_ingest(
    *,
    dataset: Dataset,
    file: File,
    source_name: str,
    created_by: User,
    progress: ProgressFn = no_progress,
) -> tuple[DatasetVersion, bool]:
    """Read every row into a staging table, then publish the version and all its items in one transaction;
    on PostgreSQL a file whose rows are all valid and hold no image is COPYed straight into the items table.

    Returns (version, created); the same bytes uploaded again return the existing version. Memory does not
    grow with the file: rows stream from disk to the database."""
    sha256 = file_sha256(file)
    existing = DatasetVersion.objects.filter(dataset=dataset, sha256=sha256).first()
    if existing:
        return existing, False
    if connection.vendor == "postgresql":
        with upload_errors_as_application_error():
            copied = dataset_version_copy(
                dataset=dataset,
                file=file,
                sha256=sha256,
                source_name=source_name,
                created_by=created_by,
                progress=progress,
            )
        if copied is not None:
            if copied[1]:
                refresh_statistics(Item._meta.db_table)
            return copied
        file.seek(0)  # read again, to name every wrong row
    errors = ErrorCollector(source_name or "upload")
    images = StoredImages()
    try:
        with upload_errors_as_application_error(), Staging(ITEM_STAGE) as stage:
            _stage_items(file, errors, stage, images, progress)
            progress("saving", stage.count, file.size or 0, force=True)
            version, created = dataset_version_publish(
                dataset=dataset,
                stage=stage,
                errors=errors,
                sha256=sha256,
                source_name=source_name,
                created_by=created_by,
            )
        if created:
            refresh_statistics(Item._meta.db_table)  # predictions on this version join against it next
    except BaseException:
        images.delete_all()
        raise
    if not created:
        images.delete_all()  # a concurrent upload of the same bytes won
    return version, created


def _stage_items(
    file: File, errors: ErrorCollector, stage: Staging, images: StoredImages, progress: ProgressFn
) -> None:
    counter = ByteCounter()
    records, store_image = read_records(file=file, errors=errors, counter=counter, fields=ITEM_FIELDS, images=images)
    stage_records(
        records=records,
        validate=lambda line, record: validate_item(line, record, errors, store_image),
        stage=stage,
        counter=counter,
        progress=progress,
    )
    if errors.total:
        staged_repeats_report(stage=stage, errors=errors)  # one bad line does not hide the others
    elif not stage.count:
        errors.add(0, None, "holds no rows")
    errors.raise_if_any()


def staged_repeats_report(*, stage: Staging, errors: ErrorCollector) -> None:
    """Each repeated external id in the staged rows, as an error on its line naming the line it repeats."""
    rows, total = repeated_ids(stage, "external_id", MAX_REPORTED_ERRORS)
    errors.merge(
        [RowError(line, "id", f"duplicates id {item_id!r} from line {first}") for line, item_id, first in rows], total
    )


def dataset_version_publish(
    *, dataset: Dataset, stage: Staging, errors: ErrorCollector, sha256: str, source_name: str, created_by: User
) -> tuple[DatasetVersion, bool]:
    """Staged item rows become the next version of `dataset`, in one transaction; a repeated id raises with its lines.
    Returns (version, created): identical bytes published meanwhile return that version."""
    table = Item._meta.db_table
    with transaction.atomic():
        bulk_transaction_settings()
        version, created = dataset_version_open(
            dataset=dataset, sha256=sha256, item_count=stage.count, source_name=source_name, created_by=created_by
        )
        if not created:
            return version, False
        try:
            with transaction.atomic():
                stage.execute(
                    f"INSERT INTO {table} (version_id, external_id, input, reference, tags, image, thumbnail) "
                    "SELECT %s, external_id, input, reference, tags, image, '' FROM {stage} ORDER BY line",
                    [version.pk],
                )
        except IntegrityError:
            staged_repeats_report(stage=stage, errors=errors)
            errors.raise_if_any()
            raise
        if stage.fetch("SELECT 1 FROM {stage} WHERE image <> '' LIMIT 1"):
            task_enqueue_on_commit("datasets.tasks.make_thumbnails", args=[version.pk])
    return version, True
