"""A dataset's next version, opened inside the transaction that publishes its items (staged or COPYed)."""

from django.db import IntegrityError
from django.db.models import Max

from core.errors import ApplicationError
from core.models import User
from datasets.models import Dataset, DatasetVersion


def dataset_version_open(
    *, dataset: Dataset, sha256: str, item_count: int, source_name: str, created_by: User
) -> tuple[DatasetVersion, bool]:
    """Inside the publishing transaction: the next version of `dataset`, or (version, False) if identical bytes
    were published meanwhile."""
    # one new version at a time per dataset; the second of two identical uploads finds the first's
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    existing = DatasetVersion.objects.filter(dataset=dataset, sha256=sha256).first()
    if existing:
        return existing, False
    number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    try:
        version = DatasetVersion.objects.create(
            dataset=dataset,
            number=number,
            sha256=sha256,
            item_count=item_count,
            source_name=source_name[:255],
            created_by=created_by,
        )
    except IntegrityError:  # SQLite has no row lock to wait on: a concurrent upload took the number
        raise ApplicationError(
            "Another version was created at the same moment; retry.", code="retry", status=409
        ) from None
    return version, True
