"""Registering models and versions, and the rules for moving a version between stages."""

from django.db import IntegrityError, transaction

from core.errors import ApplicationError, ConflictError
from core.models import User
from models_app import hooks
from models_app.models import ModelVersion, RegisteredModel, StageTransition
from webhooks.services import webhook_event_publish

Stage = ModelVersion.Stage

# Which stage may follow which. Candidate -> approved/rejected happens by a signed verdict only.
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    Stage.CANDIDATE: {Stage.APPROVED, Stage.REJECTED},
    Stage.APPROVED: {Stage.PRODUCTION, Stage.REJECTED},
    Stage.PRODUCTION: {Stage.APPROVED},
    Stage.REJECTED: set(),
}


def registered_model_create(*, name: str, description: str = "", created_by: User) -> RegisteredModel:
    try:
        with transaction.atomic():
            return RegisteredModel.objects.create(name=name, description=description, created_by=created_by)
    except IntegrityError:
        raise ConflictError(f"A model named {name!r} already exists.", code="model_exists") from None


def model_version_create(
    *,
    model: RegisteredModel,
    version: str,
    created_by: User,
    git_sha: str = "",
    params: dict | None = None,
    metrics: dict | None = None,
    artifact_uri: str = "",
) -> ModelVersion:
    try:
        with transaction.atomic():
            return ModelVersion.objects.create(
                model=model,
                version=version,
                created_by=created_by,
                git_sha=git_sha,
                params=params or {},
                metrics=metrics or {},
                artifact_uri=artifact_uri,
            )
    except IntegrityError:
        raise ConflictError(
            f"Model {model.name!r} already has a version {version!r}.", code="model_version_exists"
        ) from None


def model_version_payload(*, version: ModelVersion) -> dict:
    return {
        "model": version.model.name,
        "version": version.version,
        "stage": version.stage,
        "git_sha": version.git_sha,
        "artifact_uri": version.artifact_uri,
    }


@transaction.atomic
def model_version_set_stage(
    *, version: ModelVersion, to_stage: str, actor: User, reason: str = "", verdict_id: int | None = None
) -> StageTransition:
    """Move a version to another stage, record the transition, and announce it, all or nothing.

    `verdict_id` names the signed verdict that causes the move; without one the move is a person's manual act, which
    needs a reason and may not decide a candidate (that takes a verdict, whoever calls this)."""
    cause = f"verdict:{verdict_id}" if verdict_id is not None else "manual"
    reason = reason.strip()
    if verdict_id is None and not reason.strip():
        raise ApplicationError(
            "A reason is required to change a version's stage by hand.", code="invalid", extra={"field": "reason"}
        )
    locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    if locked.stage == Stage.CANDIDATE and verdict_id is None:
        raise ConflictError("A candidate's stage is set by a signed verdict, not directly.", code="needs_verdict")
    if to_stage not in ALLOWED_TRANSITIONS[locked.stage]:
        raise ApplicationError(
            f"{locked} is {locked.stage}; it cannot move to {to_stage}.",
            code="invalid_stage_transition",
            status=409,
            extra={"from": locked.stage, "to": to_stage},
        )
    transition = StageTransition.objects.create(
        model_version=locked, from_stage=locked.stage, to_stage=to_stage, actor=actor, reason=reason, cause=cause
    )
    locked.stage = to_stage
    locked.save(update_fields=["stage", "updated_at"])
    version.stage = to_stage
    webhook_event_publish(
        event="model_version.stage_changed",
        payload={
            **model_version_payload(version=locked),
            "from_stage": transition.from_stage,
            "to_stage": to_stage,
            "actor": actor.username,
            "reason": reason,
            "cause": cause,
        },
    )
    hooks.stage_changed(transition)  # e.g. the MLflow outbox (integrations), in this transaction
    return transition
