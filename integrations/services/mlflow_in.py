"""MLflow -> Signoff: a version registered in MLflow becomes a candidate of the model of the same name, from MLflow's
webhook or from the reconcile that beat runs, once however often either sees it."""

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction

from core.errors import ApplicationError, NotFoundError
from core.models import User
from integrations.mlflow.rest import MlflowError, MlflowRest, RemoteVersion, RunData
from integrations.mlflow.signature import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_problem,
)
from integrations.models import MlflowVersionLink
from models_app.models import ModelVersion, RegisteredModel

logger = logging.getLogger(__name__)

# The registry's URLs name a model by slug (models_app/urls.py): an MLflow name that is not one has no page here.
SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
SERVICE_USERNAME = "mlflow"


def mlflow_enabled() -> bool:
    return bool(settings.SIGNOFF_MLFLOW_TRACKING_URI)


def mlflow_rest() -> MlflowRest:
    return MlflowRest(
        base_url=settings.SIGNOFF_MLFLOW_TRACKING_URI,
        token=settings.SIGNOFF_MLFLOW_TOKEN,
        timeout=settings.SIGNOFF_MLFLOW_TIMEOUT_SECONDS,
    )


def mlflow_service_user() -> User:
    """Who registers what MLflow sends: an account that cannot log in, and never an approver, so separation of
    duties lets any approver sign its candidates off."""
    user, created = User.objects.get_or_create(
        username=SERVICE_USERNAME, defaults={"role": User.Role.DATA_SCIENTIST, "is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def mlflow_version_import(*, remote: RemoteVersion, rest: MlflowRest) -> tuple[MlflowVersionLink, bool]:
    """The Signoff version for this MLflow version, created with its run's params and metrics the first time.
    Returns (link, created). Raises MlflowError when the run cannot be read now (the next reconcile tries again)."""
    existing = MlflowVersionLink.objects.filter(mlflow_name=remote.name, mlflow_version=remote.version).first()
    if existing is not None:
        return existing, False
    if not SLUG.match(remote.name):
        raise ApplicationError(
            f"MLflow model {remote.name!r} cannot be mirrored: Signoff model names are letters, digits, - and _ "
            "(at most 100).",
            code="mlflow_name_not_a_slug",
            extra={"field": "name", "name": remote.name},
        )
    run = _run_data(remote, rest)  # over the network: before the transaction, never inside it
    try:
        with transaction.atomic():
            return _create(remote, run), True
    except IntegrityError:  # a webhook and the reconcile raced: the other one made it
        return MlflowVersionLink.objects.get(mlflow_name=remote.name, mlflow_version=remote.version), False


def _run_data(remote: RemoteVersion, rest: MlflowRest) -> RunData:
    if not remote.run_id:
        return RunData(params={}, metrics={}, git_sha="")
    try:
        return rest.run_data(run_id=remote.run_id)
    except MlflowError as exc:
        if exc.transient:
            raise
        logger.warning("MLflow run %s of %s v%s: %s", remote.run_id, remote.name, remote.version, exc.message)
        return RunData(params={}, metrics={}, git_sha="")  # a deleted run: the version still comes for review


def _create(remote: RemoteVersion, run: RunData) -> MlflowVersionLink:
    user = mlflow_service_user()
    model, _ = RegisteredModel.objects.get_or_create(
        name=remote.name, defaults={"created_by": user, "description": "Registered in MLflow."}
    )
    # A version of that number registered here before (by the API, say) is the same version: it gets the link.
    version, _ = ModelVersion.objects.get_or_create(
        model=model,
        version=remote.version,
        defaults={
            "created_by": user,
            "artifact_uri": remote.source[:1000],
            "params": run.params,
            "metrics": run.metrics,
            "git_sha": run.git_sha,
        },
    )
    return MlflowVersionLink.objects.create(
        model_version=version,
        mlflow_name=remote.name,
        mlflow_version=remote.version,
        run_id=remote.run_id,
        source=remote.source[:1000],
    )


@dataclass
class ReconcileResult:
    imported: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "name:version" -> why


def mlflow_reconcile(*, rest: MlflowRest) -> ReconcileResult:
    """Import every MLflow version Signoff does not have yet, oldest first: what a lost webhook would have brought."""
    known = set(MlflowVersionLink.objects.values_list("mlflow_name", "mlflow_version"))
    missing = sorted(
        (v for v in rest.model_versions() if (v.name, v.version) not in known), key=lambda v: (v.created_ms, v.name)
    )
    result = ReconcileResult()
    for remote in missing:
        label = f"{remote.name}:{remote.version}"
        try:
            mlflow_version_import(remote=remote, rest=rest)
            result.imported.append(label)
        except ApplicationError as exc:
            result.skipped[label] = exc.message
    return result


def mlflow_webhook_receive(*, headers: Mapping[str, str], body: bytes) -> dict:
    """Check MLflow's signature, then import the version a `model_version.created` event names (the payload's name
    and version; the rest is read back from MLflow, which the signature vouches for). Other events are answered and
    ignored. `headers` looks names up case-insensitively, as Django's request.headers does. Raises ApplicationError
    with the status MLflow should see."""
    if not mlflow_enabled():
        raise NotFoundError("The MLflow integration is off (SIGNOFF_MLFLOW_TRACKING_URI is not set).")
    secret = settings.SIGNOFF_MLFLOW_WEBHOOK_SECRET
    if not secret:
        raise ApplicationError(
            "SIGNOFF_MLFLOW_WEBHOOK_SECRET is not set, so no MLflow webhook can be verified; the reconcile still runs.",
            code="webhook_secret_unset",
            status=403,
        )
    problem = signature_problem(
        secret=secret,
        delivery_id=headers.get(DELIVERY_ID_HEADER, ""),
        timestamp=headers.get(TIMESTAMP_HEADER, ""),
        signature=headers.get(SIGNATURE_HEADER, ""),
        body=body,
        now=time.time(),
    )
    if problem:
        raise ApplicationError(problem, code="bad_signature", status=401)
    event = _parse_event(body)
    if (event.get("entity"), event.get("action")) != ("model_version", "created"):
        return {"status": "ignored", "event": f"{event.get('entity')}.{event.get('action')}"}
    data = event.get("data")
    if not isinstance(data, dict) or not data.get("name") or not data.get("version"):
        raise ApplicationError("data.name and data.version are required.", code="invalid", extra={"field": "data"})
    link, created = _import_named(str(data["name"]), str(data["version"]))
    return {
        "status": "created" if created else "exists",
        "model": link.model_version.model.name,
        "version": link.model_version.version,
    }


def _parse_event(body: bytes) -> dict:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApplicationError(f"The body is not JSON: {exc}", code="invalid_json") from None
    if not isinstance(event, dict):
        raise ApplicationError("The body must be a JSON object.", code="invalid_json")
    return event


def _import_named(name: str, version: str) -> tuple[MlflowVersionLink, bool]:
    rest = mlflow_rest()
    try:
        return mlflow_version_import(remote=rest.model_version(name=name, version=version), rest=rest)
    except MlflowError as exc:
        # 503 makes MLflow retry; if it gives up, the reconcile brings the version anyway
        status = 503 if exc.transient else 422
        raise ApplicationError(
            exc.message, code="mlflow_unavailable" if exc.transient else "mlflow_refused", status=status
        ) from None
