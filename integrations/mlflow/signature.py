"""MLflow's webhook signature, checked the way MLflow makes it (mlflow/webhooks/delivery.py in MLflow 3.x):
headers X-MLflow-Delivery-Id, X-MLflow-Timestamp (unix seconds) and X-MLflow-Signature ("v1,<base64 HMAC-SHA256>")
over "<delivery id>.<timestamp>.<body>" with the webhook's secret."""

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
# Older or newer than this and a captured request cannot be replayed (MLflow's docs suggest five minutes).
TOLERANCE_SECONDS = 300


def sign(*, secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """The X-MLflow-Signature value MLflow sends for this body."""
    digest = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_problem(
    *, secret: str, delivery_id: str, timestamp: str, signature: str, body: bytes, now: float
) -> str | None:
    """Why this request is not a genuine, fresh MLflow webhook, or None when it is."""
    if not (delivery_id and timestamp and signature):
        return f"The {DELIVERY_ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required."
    if not timestamp.isdigit():
        return f"{TIMESTAMP_HEADER} must be unix seconds, not {timestamp[:40]!r}."
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return f"{TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS} s from this server's clock."
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return "The body is not UTF-8."
    expected = sign(secret=secret, delivery_id=delivery_id, timestamp=timestamp, body=text)
    # several space-separated signatures are accepted, as Standard Webhooks allows while a secret is rotated
    if not any(hmac.compare_digest(expected, given) for given in signature.split()):
        return f"{SIGNATURE_HEADER} does not match the body signed with SIGNOFF_MLFLOW_WEBHOOK_SECRET."
    return None
