"""Reads of the registry."""

from core.errors import NotFoundError
from models_app.models import ModelVersion, RegisteredModel


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


def model_version_get_by_ref(*, ref: str, field: str) -> ModelVersion:
    """Resolve 'model:version' as the API writes it."""
    name, sep, version = (ref or "").partition(":")
    if not sep or not name or not version:
        raise NotFoundError(
            f"{field} must look like 'model:version', got {ref!r}.", code="invalid_reference", status=400
        )
    return model_version_get(model_name=name, version=version)
