"""Which version a prediction diff compares with: the one named, or else the model's version in production."""

from core.errors import ApplicationError
from models_app.models import ModelVersion
from models_app.selectors import model_version_get


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", extra={"field": "against"})


def diff_against(*, version: ModelVersion, against: str | None) -> ModelVersion:
    """The version named in `against` (of the same model), or the model's version in production (the newest, should
    there be more than one); refused in words when there is none, or when it is `version` itself."""
    if against is not None:
        other = model_version_get(model_name=version.model.name, version=against)
    else:
        found = (
            ModelVersion.objects.filter(model_id=version.model_id, stage=ModelVersion.Stage.PRODUCTION)
            .order_by("-created_at", "-id")
            .first()
        )
        if found is None:
            raise _refuse(
                f"Model {version.model.name} has no version in production: name the version to compare with "
                "in `against`."
            )
        other = found
    if other.pk == version.pk:
        raise _refuse(f"{version} cannot be compared with itself: name another version in `against`.")
    return other
