"""Reads of datasets: lookups that answer 'not found' in the API's words."""
from core.errors import NotFoundError
from datasets.models import Dataset, DatasetVersion


def dataset_get(*, name: str) -> Dataset:
    dataset = Dataset.objects.filter(name=name).first()
    if dataset is None:
        raise NotFoundError(f"No dataset named {name!r}.", code="dataset_not_found")
    return dataset


def dataset_version_get(*, dataset_name: str, number: int | str) -> DatasetVersion:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise NotFoundError(f"Dataset version must be a number, got {number!r}.", code="dataset_version_not_found") from None
    version = DatasetVersion.objects.select_related("dataset").filter(dataset__name=dataset_name, number=number).first()
    if version is None:
        raise NotFoundError(f"No version {number} of dataset {dataset_name!r}.", code="dataset_version_not_found")
    return version
