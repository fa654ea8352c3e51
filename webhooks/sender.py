"""Send one signed webhook request to an address we already checked, without following redirects."""

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from webhooks.netguard import resolve_allowed

USER_AGENT = "Signoff-Webhooks/1.0"
RESPONSE_BODY_LIMIT = 4096  # bytes of the receiver's answer kept per attempt: enough to read an error, no more


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str
    response_excerpt: str
    duration_ms: int
    request_body: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(*, secret: str, message_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for this body."""
    now = now or datetime.now(tz=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


def send(*, url: str, secret: str, message_id: str, payload: dict) -> SendResult:
    started = time.monotonic()
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    try:
        # Checked again at delivery (DNS may have changed), and the connection goes to the checked address.
        scheme, host, port, addresses = resolve_allowed(url)
    except Exception as exc:
        return SendResult(None, getattr(exc, "message", str(exc)), "", 0)  # refused: nothing was sent
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        **signed_headers(secret=secret, message_id=message_id, body=body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": parts.netloc.rsplit("@", 1)[-1],
    }
    timeout = urllib3.Timeout(total=settings.SIGNOFF_WEBHOOK_TIMEOUT_SECONDS)
    pool: urllib3.HTTPConnectionPool  # the HTTPS pool is a subclass
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            addresses[0], port, server_hostname=host, assert_hostname=host, timeout=timeout, retries=False
        )
    else:
        pool = urllib3.HTTPConnectionPool(addresses[0], port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen(
            "POST", path, body=body.encode(), headers=headers, redirect=False, preload_content=False
        )
        excerpt = response.read(RESPONSE_BODY_LIMIT, decode_content=True).decode("utf-8", "replace")
        response.release_conn()
        return SendResult(response.status, "", excerpt, int((time.monotonic() - started) * 1000), body)
    except urllib3.exceptions.HTTPError as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:500]
        return SendResult(None, error, "", int((time.monotonic() - started) * 1000), body)
    finally:
        pool.close()
