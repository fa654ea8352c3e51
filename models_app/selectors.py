"""Reads of the registry."""

from django.db.models import QuerySet

from core.errors import ApplicationError, NotFoundError
from datasets.models import DatasetVersion
from models_app.models import ModelVersion, Prediction, RegisteredModel


def registered_model_get(*, name: str) -> RegisteredModel:
    model = RegisteredModel.objects.filter(name=name).first()
    if model is None:
        raise NotFoundError(f"No model named {name!r}.", code="model_not_found")
    return model


def model_version_get(*, model_name: str, version: str) -> ModelVersion:
    found = (
        ModelVersion.objects.select_related("model", "created_by")
        .filter(model__name=model_name, version=version)
        .first()
    )
    if found is None:
        raise NotFoundError(f"No version {version!r} of model {model_name!r}.", code="model_version_not_found")
    return found


def registered_models_with_versions() -> QuerySet[RegisteredModel]:
    """Every model, by name, with its versions (the registry page and the API's model list)."""
    return RegisteredModel.objects.prefetch_related("versions").order_by("name")


def model_versions_with_predictions(*, dataset_version: DatasetVersion) -> QuerySet[ModelVersion]:
    """The versions that have predictions on `dataset_version`: the only ones a campaign on it can compare."""
    return (
        ModelVersion.objects.filter(prediction_sets__dataset_version=dataset_version)
        .select_related("model")
        .distinct()
        .order_by("model__name", "version")
    )


def model_version_get_with_history(*, model_name: str, version: str) -> ModelVersion:
    """A version with its stage history's actors, for a detail page or answer."""
    found = model_version_get(model_name=model_name, version=version)
    return (
        ModelVersion.objects.select_related("model", "created_by")
        .prefetch_related("transitions__actor")
        .get(pk=found.pk)
    )


def model_version_get_by_ref(*, ref: str, field: str) -> ModelVersion:
    """Resolve 'model:version' as the API writes it."""
    name, sep, version = (ref or "").partition(":")
    if not sep or not name or not version:
        raise NotFoundError(
            f"{field} must look like 'model:version', got {ref!r}.", code="invalid_reference", status=400
        )
    return model_version_get(model_name=name, version=version)


def predictions_by_item(*, model_version: ModelVersion, dataset_version: DatasetVersion) -> dict[int, Prediction]:
    """A version's predictions on a dataset version by item id; refused when it has none there."""
    found = {
        p.item_id: p
        for p in Prediction.objects.filter(
            prediction_set__model_version=model_version, prediction_set__dataset_version=dataset_version
        ).only("id", "item_id", "output")
    }
    if not found:
        raise ApplicationError(
            f"{model_version} has no predictions on {dataset_version}; upload them first.",
            code="predictions_missing",
            extra={"field": "models"},
        )
    return found
