"""schemathesis over /api/schema/ against the live test server, as a data scientist and as an admin: no
server error, and every response conforms to the schema (status code declared, content type, body).

A seeded world (dataset, two model versions with predictions, a campaign with tasks, a webhook) lets
operations reach real code. Examples are bounded (SIGNOFF_FUZZ_EXAMPLES per operation and mode) and derandomised
so CI is reproducible; set SIGNOFF_FUZZ_SEED to explore other inputs. Host names all resolve to loopback and
only loopback is allow-listed, so webhook registration never reaches the network (and no worker delivers)."""

import os
import socket

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from knox.models import AuthToken
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("SIGNOFF_FUZZ_EXAMPLES", "4"))
SEED = os.environ.get("SIGNOFF_FUZZ_SEED")
# tus PATCH bodies are plain bytes: the built-in octet-stream serializer's. (Registering binary_serializer through
# schemathesis.serializer wrapped its {"data": bytes} in another {"data": ...}: requests sent a form, not the bytes.)
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
# Not run: positive_data_acceptance wants every schema-valid body accepted, but a body can be well formed and
# still name a reviewer who is not on the campaign or a dataset that does not exist, which is a 400 by design.
EXCLUDED_CHECKS = [positive_data_acceptance]
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"enabled": False},
            # tus answers a Tus-Resumable it does not speak with 412, as its protocol says; the rest are the defaults
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 412, 415, 422, 428, 429]
            },
        }
    }
)


def _loopback_only(host, port, *args, **kwargs):
    """Every name resolves to 127.0.0.1: no DNS query leaves the machine, and the SSRF guard sees loopback."""
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", int(port or 80)))]


@pytest.fixture
def world(users, api, pairwise_campaign, settings, monkeypatch):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1", "localhost"]
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only)
    response = api["ds"].post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["verdict.signed"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return users


def _nothing_to_make_invalid(operation) -> bool:
    """No body, and every parameter (path, and the auth header and cookie) any string: every request is valid, so
    negative mode has nothing to generate. Hypothesis would find that out too (Unsatisfiable), after ~2 s of rejected
    tries per operation and role."""
    return not operation.body and all(
        p.definition.get("schema") == {"type": "string"} for p in operation.iter_parameters()
    )


def _fuzz(live_server, user) -> dict[str, int]:
    _, token = AuthToken.objects.create(user=user, expiry=None)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", config=CONFIG)
    failures: list[str] = []
    totals = {"operations": 0, "cases": 0, "failures": 0, "unsatisfiable": 0}
    settings = hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # a schema error names the operation it is in
        operation = result.ok()
        totals["operations"] += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode == GenerationMode.NEGATIVE and _nothing_to_make_invalid(operation):
                totals["unsatisfiable"] += 1
                continue

            @settings
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                totals["cases"] += 1
                case.call_and_validate(base_url=live_server.url, session=session, excluded_checks=EXCLUDED_CHECKS)

            if SEED is not None:
                run = hypothesis.seed(int(SEED))(run)
            try:
                run()
            except Unsatisfiable:
                totals["unsatisfiable"] += 1  # nothing in this operation can be made invalid (no parameters)
            except (Exception, BaseExceptionGroup) as exc:
                totals["failures"] += 1
                failures.append(f"{operation.label} [{mode}]: {str(exc)[:1500]}")
    print(f"schemathesis as {user.username}: {totals}")
    assert not failures, "\n\n".join(failures)
    return totals


def test_fuzz_api_as_a_data_scientist(live_server, world):
    _fuzz(live_server, world["ds"])


def test_fuzz_api_as_an_admin(live_server, world):
    _fuzz(live_server, world["admin"])
