"""Creating datasets and ingesting their versions, all or nothing."""
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max

from core.errors import ApplicationError, ConflictError
from core.models import User
from datasets.models import Dataset, DatasetVersion, Item
from datasets.parsers import parse_items
from datasets.services.files import file_lines, file_sha256, upload_errors_as_application_error

ITEM_BATCH = 2000


def dataset_create(*, name: str, description: str = "", created_by: User) -> Dataset:
    try:
        with transaction.atomic():
            return Dataset.objects.create(name=name, description=description, created_by=created_by)
    except IntegrityError:
        raise ConflictError(f"A dataset named {name!r} already exists.", code="dataset_exists") from None


def dataset_version_ingest(*, dataset: Dataset, file: File, source_name: str, created_by: User) -> tuple[DatasetVersion, bool]:
    """Parse every line first, then write the version and all its items in one transaction.

    Returns (version, created); the same bytes uploaded again return the existing version.
    """
    sha256 = file_sha256(file)
    existing = DatasetVersion.objects.filter(dataset=dataset, sha256=sha256).first()
    if existing:
        return existing, False
    with upload_errors_as_application_error():
        rows = parse_items(file_lines(file), source_name or "upload")

    saved_files: list[str] = []
    try:
        with transaction.atomic():
            number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = DatasetVersion.objects.create(
                dataset=dataset, number=number, sha256=sha256, item_count=len(rows),
                source_name=source_name[:255], created_by=created_by,
            )
            items = []
            for row in rows:
                item = Item(version=version, external_id=row.external_id, input=row.input,
                            reference=row.reference, tags=row.tags)
                if row.image is not None:
                    item.image.save(f"{len(items)}.{row.image_ext}", ContentFile(row.image), save=False)
                    saved_files.append(item.image.name)
                items.append(item)
            Item.objects.bulk_create(items, batch_size=ITEM_BATCH)
    except IntegrityError:
        _delete_files(saved_files)
        # a concurrent upload took the same number or the same content; the content case is not an error
        existing = DatasetVersion.objects.filter(dataset=dataset, sha256=sha256).first()
        if existing:
            return existing, False
        raise ApplicationError("Another version was created at the same moment; retry.", code="retry", status=409) from None
    except BaseException:
        _delete_files(saved_files)
        raise
    return version, True


def _delete_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        default_storage.delete(name)
