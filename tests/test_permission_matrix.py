"""Every route × every role × every method it answers, against a table of expected statuses.

The routes come from the URL configuration, not from this file: a route added later without an entry in EXPECTED
fails the suite ("new route X: add its expected statuses"), so nobody ships an endpoint whose permissions no one
decided. Each request runs against one fixture world (dataset, versions, predictions, a campaign with a judgment and
an open task, a signed verdict, a webhook endpoint with a delivery, an upload) and is rolled back afterwards, so a
write that one role is allowed cannot change what the next role sees.

A cell is an exact status; "ok" for a write the role may make: anything but 401, 403, 404, 405 and 5xx, and on a
page no error message (the body is one that succeeds, but a write may also answer 400 or 409 for its content, never
for who sent it); "302err" for a page's refusal told as a redirect with an error message (the lifecycle forms).
Refusals are exact everywhere.
"""

import base64
import copy
import inspect
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from knox.models import AuthToken

from core.models import User
from core.tokens import token_create
from tests.factories import UserFactory, jsonl_file, png_base64

ROLES = ("anon", "rev_on", "rev_off", "lead", "other_ds", "approver", "admin")
"""anonymous · reviewer of the campaign · reviewer not on it · its lead (the data scientist who created it) ·
another data scientist · approver · admin (a superuser, staff)."""

# --- the expected statuses ------------------------------------------------------------------------------------------
# One line per route (its URL name, or its pattern when it has none): {method: the statuses of ROLES, in that order}.
# Shorthands for the rules most routes share:
API_READ = "401 403 403 200 200 200 200"  # data scientists, approvers, admins (CanSeeResults)
API_DS_WRITE = "401 403 403 ok ok 403 ok"  # data scientists and admins
PAGE_READ = "302 403 403 200 200 200 200"  # pages for data scientists and approvers: login first, then the role
PAGE_DS_POST = "302 403 403 ok ok 403 ok"
LEAD_FORM = "302 403 403 ok 302err 403 ok"
OWN_WRITE = "401 403 403 ok 404 403 ok"  # the object's owner (the lead here) and admins
OWN_PAGE_POST = "302 403 403 ok 404 403 ok"
STAFF = "302 302 302 302 302 302 200"  # Django's admin: staff only, everyone else to its login page
STAFF_WRITE = "302 302 302 302 302 302 ok"
STAFF_MOVED = "302 302 302 302 302 302 302"  # the admin's old object URLs redirect to .../change/

EXPECTED: dict[str, dict[str, str]] = {
    # no worker runs for this test: the health check says so, to anyone (livez is the web process alone)
    "healthz": {"GET": "503 503 503 503 503 503 503"},
    # datasets and the registry: never reviewers, whose work is blind
    "api:dataset-list": {"GET": API_READ, "POST": API_DS_WRITE},
    "api:dataset-detail": {"GET": API_READ},
    "api:dataset-version-list": {"GET": API_READ, "POST": API_DS_WRITE},
    "api:dataset-version-detail": {"GET": API_READ},
    "api:dataset-version-diff": {"GET": API_READ},
    "api:upload-create": {"POST": API_DS_WRITE, "OPTIONS": "401 403 403 204 204 403 204"},
    # an upload is its creator's (the lead here) or an admin's: anyone else is told it does not exist
    "api:upload-detail": {
        "GET": "401 404 404 200 404 404 200",
        "HEAD": "401 404 404 200 404 404 200",
        "PATCH": "401 404 404 ok 404 404 ok",
        "DELETE": "401 404 404 ok 404 404 ok",
    },
    "api:model-list": {"GET": API_READ, "POST": API_DS_WRITE},
    "api:model-version-list": {"GET": API_READ, "POST": API_DS_WRITE},
    "api:model-version-detail": {"GET": API_READ},
    "api:model-version-diff": {"GET": API_READ},  # model outputs by version: never to reviewers (blind review)
    "api:prediction-upload": {"POST": API_DS_WRITE},
    "api:model-version-stage": {"POST": "401 403 403 403 403 ok ok"},
    # production logs and inspections (inspections/): as the registry, never reviewers
    "api:model-version-logs": {"POST": API_DS_WRITE},
    "api:model-version-logs-export": {"GET": API_READ},
    "api:inspection-list": {"GET": API_READ, "POST": API_DS_WRITE},
    "api:inspection-detail": {"GET": API_READ},
    "api:inspection-run": {"POST": API_DS_WRITE},
    "inspection-detail": {"GET": PAGE_READ},
    "api:dataset-import-label-studio": {"POST": API_DS_WRITE},
    # campaigns: reviewers see the blind campaign they are on, and nothing of any other
    "api:campaign-list": {"GET": "401 200 200 200 200 200 200", "POST": API_DS_WRITE},
    "api:campaign-detail": {"GET": "401 200 404 200 200 200 200", "PATCH": "401 403 403 ok 403 403 ok"},
    "api:campaign-next": {"GET": "401 200 404 403 403 403 404"},
    "api:campaign-progress": {"GET": "401 200 404 403 403 403 404"},
    "api:campaign-extend": {"POST": "401 403 403 ok 403 403 ok"},
    "api:campaign-reviewers": {"POST": "401 403 403 ok 403 403 ok"},
    "api:campaign-results": {"GET": API_READ},
    "api:campaign-exclusions": {"GET": API_READ, "POST": "401 403 403 ok 403 403 ok"},
    "api:campaign-judgments-jsonl": {"GET": API_READ},
    "api:campaign-judgments-csv": {"GET": API_READ},
    "api:campaign-results-jsonl": {"GET": API_READ},
    "api:campaign-results-csv": {"GET": API_READ},
    "api:campaign-signoff": {"POST": "401 403 403 403 403 ok ok"},
    "api:campaign-gold": {"POST": "401 403 403 ok 403 403 ok"},
    # a task and a judgment are their reviewer's
    "api:task-detail": {"GET": "401 200 404 403 403 403 404"},
    "api:judgment-create": {"POST": "401 ok 404 403 403 403 404"},
    "api:task-skip": {"POST": "401 ok 404 403 403 403 404"},
    "api:judgment-undo": {"POST": "401 ok 404 403 403 403 404"},
    # the reviewer's own history: their judgments, the task behind one, a change of it, a skip taken back
    "api:campaign-my-judgments": {"GET": "401 200 404 403 403 403 404"},
    "api:judgment-task": {"GET": "401 200 404 403 403 403 404"},
    "api:judgment-change": {"POST": "401 ok 404 403 403 403 404"},
    "api:task-unskip": {"POST": "401 ok 404 403 403 403 404"},
    "api:judgment-discard": {"POST": "401 403 403 ok 403 403 ok"},
    # the gate: `pending` would tell a reviewer which version is the blind candidate
    "api:gate": {"GET": API_READ},
    "api:verdict-chain-verify": {"GET": "401 403 403 403 403 200 200"},
    "api:verdict-chain": {"GET": "401 403 403 403 403 200 200"},
    "api:verdict-chain-acknowledge": {"POST": "401 403 403 403 403 403 ok"},
    # an endpoint is its creator's (the lead's here) or an admin's: another data scientist is told it does not exist
    "api:webhook-list": {"GET": "401 403 403 200 200 403 200", "POST": API_DS_WRITE},
    "api:webhook-detail": {"GET": "401 403 403 200 404 403 200", "DELETE": OWN_WRITE, "PATCH": OWN_WRITE},
    "api:webhook-deliveries": {"GET": "401 403 403 200 404 403 200"},
    "api:webhook-redeliver": {"POST": OWN_WRITE},
    "api:webhook-ping": {"POST": OWN_WRITE},
    # MLflow's webhooks carry no token: the signature is the credential (tests/test_mlflow.py: unsigned or wrongly
    # signed is 401 whoever sends it); here the integration is off, which is "not found" to everyone
    "api:mlflow-webhook": {"POST": "404 404 404 404 404 404 404"},
    # an MLflow write sent again: whoever may see the version's page (tests/test_mlflow.py: it then lands)
    "mlflow-sync-retry": {"POST": "302 403 403 ok ok ok ok"},
    "schema": {"GET": "200 200 200 200 200 200 200"},
    "api-docs": {"GET": "200 200 200 200 200 200 200"},
    "api-redoc": {"GET": "200 200 200 200 200 200 200"},
    # pages
    "login": {"GET": "200 302 302 302 302 302 302", "POST": "ok ok ok ok ok ok ok", "PUT": "ok ok ok ok ok ok ok"},
    "logout": {"POST": "302 302 302 302 302 302 302"},
    "home": {"GET": "302 200 200 200 200 200 200"},
    "dataset-list": {"GET": PAGE_READ},
    "dataset-detail": {"GET": PAGE_READ},
    "dataset-diff": {"GET": PAGE_READ},
    "dataset-new": {"GET": "302 403 403 200 200 403 200", "POST": PAGE_DS_POST},
    "model-new": {"GET": "302 403 403 200 200 403 200", "POST": PAGE_DS_POST},
    "model-version-new": {"GET": "302 403 403 200 200 403 200", "POST": PAGE_DS_POST},
    "registry": {"GET": PAGE_READ},
    "model-version-detail": {"GET": PAGE_READ},
    "model-version-diff": {"GET": PAGE_READ},
    "model-versions-compare": {"GET": PAGE_READ},
    # 302err for those allowed too: the body cannot succeed in this world (calc 2 is not approved yet)
    "model-version-promote": {"POST": "302 403 403 403 403 302err 302err"},
    "webhook-list": {"GET": "302 403 403 200 200 403 200", "POST": PAGE_DS_POST},
    "webhook-detail": {"GET": "302 403 403 200 404 403 200"},
    "webhook-deactivate": {"POST": OWN_PAGE_POST},
    "webhook-reactivate": {"POST": OWN_PAGE_POST},
    "delivery-redeliver": {"POST": OWN_PAGE_POST},
    "webhook-ping": {"POST": OWN_PAGE_POST},
    "campaign-list": {"GET": "302 200 200 200 200 200 200"},
    "approver-queue": {"GET": "302 403 403 403 403 200 200"},  # approvers' (and admins') sign-off queue
    "campaign-new": {"GET": "302 403 403 200 200 403 200", "POST": PAGE_DS_POST},
    "campaign-detail": {"GET": PAGE_READ},
    "campaign-new-plan": {"POST": PAGE_DS_POST},
    # the new-campaign form's helpers: a GET without ?dataset_version= names nothing (400), after the role check
    "campaign-new-versions": {"GET": "302 403 403 400 400 403 400"},
    "campaign-new-preview": {"POST": PAGE_DS_POST},
    "campaign-signoff": {"POST": "302 403 403 403 403 ok ok"},
    # the lead's forms: another data scientist is told no on the campaign's page
    "campaign-status": {"POST": LEAD_FORM},
    "campaign-extend": {"POST": "302 403 403 302err 302err 403 302err"},  # the lead's: no other version to add
    "campaign-reviewers": {"POST": LEAD_FORM},
    "campaign-report": {"GET": PAGE_READ},
    "campaign-review": {"GET": "302 200 404 403 403 403 404"},
    "campaign-judgments": {"GET": PAGE_READ},
    "campaign-gold": {"POST": "302 403 403 302err 302err 403 302err"},  # the lead's: a pairwise campaign has no gold
    "campaign-exclude-reviewer": {"POST": LEAD_FORM},
    "judgment-discard": {"POST": LEAD_FORM},
    "verdict-detail": {"GET": PAGE_READ},
    "chain-status": {"GET": "302 403 403 403 403 200 200"},
    "chain-check": {"POST": "302 403 403 403 403 ok ok"},
    "chain-acknowledge": {"POST": "302 403 403 403 403 403 302err"},  # an admin's: nothing broken to acknowledge
    "item-image": {"GET": "302 200 404 200 200 200 200"},
    "plotly-js": {"GET": "200 200 200 200 200 200 200"},
    # Django's admin, one rule (is_staff) for all its pages
    "admin:index": {"GET": STAFF},
    "admin:login": {"GET": "200 200 200 200 200 200 302", "POST": "ok ok ok ok ok ok ok"},
    "admin:logout": {"POST": "ok ok ok ok ok ok ok"},
    "admin:password_change": {"GET": STAFF, "POST": STAFF_WRITE},
    "admin:password_change_done": {"GET": STAFF},
    "admin:autocomplete": {"GET": "302 302 302 302 302 302 403"},  # 403: no field named to complete
    "admin:jsi18n": {"GET": STAFF},
    "admin:view_on_site": {"GET": "302 302 302 302 302 302 404"},  # a user has no page of its own
    "admin:app_list": {"GET": STAFF},
    **{
        f"admin:{model}_{view}": {
            "GET": STAFF,
            **({"POST": STAFF_WRITE} if view in ("add", "change", "delete") else {}),
        }
        for model in ("auth_group", "knox_authtoken", "core_user")
        for view in ("changelist", "add", "history", "delete", "change")
    },
    "admin:auth_user_password_change": {"GET": STAFF, "POST": STAFF_WRITE},
    "admin/auth/group/<path:object_id>/": {"GET": STAFF_MOVED},
    "admin/knox/authtoken/<path:object_id>/": {"GET": STAFF_MOVED},
    "admin/core/user/<path:object_id>/": {"GET": STAFF_MOVED},
    "admin/(?P<url>.*)$": {"GET": "302 302 302 302 302 302 404"},
    # login lockouts (django-axes): staff only, as the rest of the admin
    # (its records are written by logins, never added by hand: 403 even for an admin; the world has none, so an
    # object's pages send the admin back to the list)
    **{
        f"admin:axes_{model}_{view}": {
            "GET": STAFF if view == "changelist" else STAFF_MOVED,
            **({"POST": STAFF_WRITE} if view in ("change", "delete") else {}),
        }
        for model in ("accessattempt", "accesslog", "accessfailurelog")
        for view in ("changelist", "history", "delete", "change")
    },
    **{
        f"admin:axes_{model}_add": {"GET": "302 302 302 302 302 302 403", "POST": "302 302 302 302 302 302 403"}
        for model in ("accessattempt", "accesslog", "accessfailurelog")
    },
    **{
        f"admin/axes/{model}/<path:object_id>/": {"GET": STAFF_MOVED}
        for model in ("accessattempt", "accesslog", "accessfailurelog")
    },
    # tokens: everyone signed in manages their own, and nobody else's (the world's token is the lead's)
    "api:token-list": {"GET": "401 200 200 200 200 200 200", "POST": "401 ok ok ok ok ok ok"},
    "api:token-detail": {"DELETE": "401 404 404 ok 404 404 404"},
    "account-tokens": {"GET": "302 200 200 200 200 200 200", "POST": "302 ok ok ok ok ok ok"},
    "account-token-revoke": {"POST": "302 404 404 ok 404 404 404"},
    # e-mail preferences: everyone signed in sets their own, and only their own (the form has no user field)
    "account-notifications": {"GET": "302 200 200 200 200 200 200", "POST": "302 ok ok ok ok ok ok"},
    # the e-mail outbox, read-only in the admin: written by events, never added by hand (403 even for an admin);
    # the world has none, so an object's pages send the admin back to the list
    **{
        f"admin:notifications_notification_{view}": {
            "GET": STAFF if view == "changelist" else STAFF_MOVED,
            **({"POST": STAFF_WRITE} if view in ("change", "delete") else {}),
        }
        for view in ("changelist", "history", "delete", "change")
    },
    "admin:notifications_notification_add": {
        "GET": "302 302 302 302 302 302 403",
        "POST": "302 302 302 302 302 302 403",
    },
    "admin/notifications/notification/<path:object_id>/": {"GET": STAFF_MOVED},
    "livez": {"GET": "200 200 200 200 200 200 200"},
}


# query strings a GET needs to be a valid request at all
QUERY = {
    "api:dataset-version-diff": "?from=1&to=1",
    "dataset-diff": "?from=1&to=1",
    "model-versions-compare": "?v=1&v=2",
    "api:model-version-diff": "?against=1&dataset=arith&dataset_version=1",
    "model-version-diff": "?against=1&dataset_version=arith:1",
}


# --- the routes, from the URL configuration -------------------------------------------------------------------------


def walk(resolver=None, prefix: str = "", namespace: str = ""):
    """(pattern, key, callback) of every route; the key is the URL's namespaced name, or its pattern without one."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from walk(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            yield pattern, (namespace + entry.name if entry.name else pattern), entry.callback


def methods_of(callback) -> set[str] | None:
    """The methods a view answers, read from the view itself; None when a function view does not say."""
    from django.views.generic import RedirectView

    view_class = getattr(callback, "view_class", None)
    if view_class is not None and issubclass(view_class, RedirectView):
        return {"GET"}  # the admin's old object URLs: every method redirects alike
    if view_class is not None:
        from django.views import View
        from rest_framework.views import APIView

        answered = set()
        for method in ("get", "post", "put", "patch", "delete", "head", "options"):
            handler = getattr(view_class, method, None)
            if handler is None or method not in view_class.http_method_names:
                continue
            if method in ("head", "options") and handler in (
                getattr(APIView, method, None),
                getattr(View, method, None),
            ):
                continue  # the framework's own HEAD (GET without a body) and OPTIONS (metadata)
            answered.add(method.upper())
        return answered
    function = callback
    while function is not None:  # require_POST / require_GET / require_http_methods keep the list in a closure
        for cell in inspect.getclosurevars(function).nonlocals.values():
            if isinstance(cell, list | tuple) and cell and all(isinstance(m, str) and m.isupper() for m in cell):
                return set(cell) - {"HEAD"}
        function = getattr(function, "__wrapped__", None)
    return None


# --- the world the URLs are filled from -----------------------------------------------------------------------------


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@pytest.fixture
def world(api, users, loop_data, pairwise_campaign):
    from datasets.models import Item, Upload
    from reviews.models import Judgment, Verdict
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    users["admin"].is_staff = users["admin"].is_superuser = True
    users["admin"].save()
    people = {
        "rev_on": users["reviewer"],
        "rev_off": UserFactory.create(username="outsider"),
        "lead": users["ds"],
        "other_ds": UserFactory.create(username="ds2", role=User.Role.DATA_SCIENTIST),
        "approver": users["approver"],
        "admin": users["admin"],
    }
    cid = pairwise_campaign["id"]
    reviewer = api["reviewer"]
    done = reviewer.get(f"/api/v1/campaigns/{cid}/next/").json()
    judged = reviewer.post(
        f"/api/v1/tasks/{done['task']}/judgments/", {"choice": "A", "client_id": "m-1"}, format="json"
    )
    assert judged.status_code == 201, judged.json()
    open_task = reviewer.get(f"/api/v1/campaigns/{cid}/next/").json()["task"]
    from django.core.files.base import ContentFile

    item = Item.objects.get(external_id=done["item"], version__number=1)  # the reviewer has judged it
    item.image.save("item.png", ContentFile(base64.b64decode(png_base64())), save=True)
    hook = api["ds"].post(
        "/api/v1/webhooks/", {"url": "http://93.184.216.34/hook", "events": ["verdict.signed"]}, format="json"
    )
    assert hook.status_code == 201, hook.json()
    # a second campaign, rejected: a verdict and a delivery to the endpoint, while the first stays open
    other = (
        api["ds"]
        .post(
            "/api/v1/campaigns/",
            {
                "name": "other",
                "kind": "pairwise",
                **loop_data,
                "candidate": "calc:1",
                "baseline": "calc:2",
                "reviewers": ["rev"],
            },
            format="json",
        )
        .json()
    )
    signed = api["approver"].post(
        f"/api/v1/campaigns/{other['id']}/signoff/", {"decision": "reject", "rationale": "worse"}, format="json"
    )
    assert signed.status_code == 201, signed.json()
    upload = api["ds"].post(
        "/api/v1/uploads/",
        HTTP_UPLOAD_LENGTH="10",
        HTTP_TUS_RESUMABLE="1.0.0",
        HTTP_UPLOAD_METADATA=f"kind {_b64('dataset_version')},filename {_b64('x.jsonl')},dataset {_b64('arith')}",
    )
    assert upload.status_code == 201, upload.content
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from integrations.models import MlflowSync, MlflowVersionLink
    from models_app.models import ModelVersion

    # an MLflow write that was given up, on the rejected version
    link = MlflowVersionLink.objects.create(
        model_version=ModelVersion.objects.get(model__name="calc", version="1"), mlflow_name="calc", mlflow_version="1"
    )
    sync = MlflowSync.objects.create(
        link=link, kind="alias", payload={"alias": "x"}, status="failed", next_attempt_at=timezone.now()
    )
    from inspections.models import InspectionSchedule

    schedule = InspectionSchedule.objects.create(
        model=link.model_version.model,
        every_seconds=86400,
        sample=5,
        kind="labeling",
        labels=["a", "b"],
        anchor=timezone.now(),
        created_by=users["ds"],
    )
    objects = {
        "inspections": schedule.pk,
        "syncs": sync.pk,
        "campaigns": cid,
        "judgments": Judgment.objects.get(client_id="m-1").pk,
        "tasks": open_task,
        "verdicts": Verdict.objects.get().pk,
        "webhooks": WebhookEndpoint.objects.get().pk,
        "deliveries": WebhookDelivery.objects.get().pk,
        "uploads": Upload.objects.get().pk,
        "items": item.pk,
        "datasets": "arith",
        "models": "calc",
        "gate": "calc",
        "group": Group.objects.create(name="a group").pk,
        "authtoken": AuthToken.objects.first().pk,
        "tokens": token_create(user=users["ds"], name="the lead's")[0].pk,
        "accessattempt": 999999,
        "accesslog": 999999,
        "accessfailurelog": 999999,  # none such: the admin says so
        "user": users["reviewer"].pk,
    }
    return {"people": people, "objects": objects}


def fill(pattern: str, objects: dict) -> str:
    """The pattern with real objects in it: each parameter is named by the path segment before it."""
    import re

    if pattern == "admin/(?P<url>.*)$":
        return "/admin/no-such-page/"
    if pattern.startswith("admin/^"):
        return "/admin/core/"
    segments, path = pattern.split("/"), []
    for index, segment in enumerate(segments):
        found = re.fullmatch(r"(.*?)<(?:\w+:)?(\w+)>(.*)", segment)
        if not found:
            path.append(segment)
            continue
        before, name, after = found.groups()
        owner = segments[index - 1] if index else ""
        value: object
        if name == "content_type_id":
            from django.contrib.contenttypes.models import ContentType

            value = ContentType.objects.get_for_model(User).pk
        elif name == "object_id" or name == "id":
            value = (
                objects["user"]
                if name == "object_id" and "core/user" in pattern
                else objects.get(owner, objects["user"])
            )
        elif name == "fmt":
            value = "html"
        elif name == "number":
            value = 1
        elif name == "version":
            value = "2"
        elif name == "task":
            value = objects["tasks"]
        elif name == "model":
            value = objects["models"]
        else:
            if owner not in objects:
                raise AssertionError(f"no fixture object for <{name}> after {owner!r} in {pattern}: add one to world()")
            value = objects[owner]
        path.append(f"{before}{value}{after}")
    return "/" + "/".join(path)


# --- the bodies of writes: what would succeed if the role may make it ------------------------------------------------


def body(key: str) -> dict:
    bodies: dict[str, dict[str, Any]] = {
        "api:dataset-list": {"data": {"name": "fresh"}, "content_type": "application/json"},
        "api:model-list": {"data": {"name": "fresh"}, "content_type": "application/json"},
        "api:model-version-list": {"data": {"version": "9"}, "content_type": "application/json"},
        "api:model-version-stage": {
            "data": {"stage": "production", "reason": "ship"},
            "content_type": "application/json",
        },
        "api:dataset-version-list": {"data": {"file": jsonl_file([{"id": "new-1", "input": "x"}])}},
        "api:prediction-upload": {
            "data": {"dataset": "arith", "dataset_version": 1, "file": jsonl_file([{"id": "item-0", "output": "0"}])}
        },
        "api:model-version-logs": {"data": {"file": jsonl_file([{"input": "1 + 1?", "output": "2"}])}},
        "api:inspection-list": {
            "data": {
                "model": "calc",
                "every": "1d",
                "sample": 5,
                "kind": "labeling",
                "labels": ["a"],
                "reviewers": ["rev"],
            },
            "content_type": "application/json",
        },
        "api:campaign-list": {
            "data": {
                "name": "new",
                "kind": "pairwise",
                "dataset": "arith",
                "dataset_version": 1,
                "candidate": "calc:2",
                "baseline": "calc:1",
                "reviewers": ["rev"],
            },
            "content_type": "application/json",
        },
        "api:campaign-detail": {"data": {"status": "paused", "reason": "a break"}, "content_type": "application/json"},
        "api:campaign-extend": {"data": {"dataset_version": 1}, "content_type": "application/json"},
        "api:campaign-reviewers": {"data": {"add": ["outsider"]}, "content_type": "application/json"},
        "api:campaign-exclusions": {
            "data": {"reviewer": "rev", "reason": "too fast"},
            "content_type": "application/json",
        },
        "api:campaign-signoff": {"data": {"decision": "reject", "rationale": "no"}, "content_type": "application/json"},
        "api:judgment-create": {"data": {"choice": "A", "client_id": "m-2"}, "content_type": "application/json"},
        "api:task-skip": {"data": {"reason": "unclear"}, "content_type": "application/json"},
        "api:judgment-change": {"data": {"choice": "B", "client_id": "m-3"}, "content_type": "application/json"},
        "api:judgment-discard": {"data": {"reason": "careless"}, "content_type": "application/json"},
        "api:verdict-chain-acknowledge": {"data": {"note": "seen"}, "content_type": "application/json"},
        "api:webhook-list": {
            "data": {"url": "http://93.184.216.34/other", "events": ["verdict.signed"]},
            "content_type": "application/json",
        },
        "api:webhook-detail": {"data": {"active": False}, "content_type": "application/json"},
        "api:upload-create": {
            "HTTP_UPLOAD_LENGTH": "10",
            "HTTP_TUS_RESUMABLE": "1.0.0",
            "HTTP_UPLOAD_METADATA": f"kind {_b64('dataset_version')},filename {_b64('y.jsonl')},"
            f"dataset {_b64('arith')}",
        },
        "login": {"data": {"username": "rev", "password": "pw-for-tests"}},
        "campaign-status": {"data": {"status": "paused", "reason": "a break"}},
        "campaign-reviewers": {"data": {"add": ["outsider"]}},
        "campaign-exclude-reviewer": {"data": {"reviewer": "rev", "reason": "too fast"}},
        "judgment-discard": {"data": {"reason": "careless"}},
        "campaign-signoff": {"data": {"decision": "reject", "rationale": "no"}},
        "model-version-promote": {"data": {"reason": "ship"}},
        "dataset-new": {"data": {"name": "fresh"}},
        "model-new": {"data": {"name": "fresh"}},
        "model-version-new": {"data": {"version": "9", "params": '{"lr": 0.1}'}},
        "webhook-list": {"data": {"url": "http://93.184.216.34/other", "events": "verdict.signed"}},
    }
    return bodies.get(key, {})


def answered_ok(status: int | str) -> bool:
    return isinstance(status, int) and status not in (401, 403, 404, 405) and status < 500


def table_problems(routes) -> list[str]:
    keys = [key for _, key, _ in routes]
    problems = [f"new route {key}: add its expected statuses to EXPECTED" for key in keys if key not in EXPECTED]
    problems += [f"EXPECTED lists a route that no longer exists: {key}" for key in sorted(set(EXPECTED) - set(keys))]
    return problems


def test_a_route_without_an_entry_fails_the_matrix():
    from django.urls import path

    from core.views import healthz

    # what get_resolver() builds, over the project's routes and one more (a urlconf may be the list of patterns)
    with_a_new_route = URLResolver(
        RegexPattern(r"^/"), [*get_resolver().url_patterns, path("api/v1/secrets/", healthz, name="secrets")]
    )
    assert table_problems(list(walk(with_a_new_route))) == ["new route secrets: add its expected statuses to EXPECTED"]


def test_every_route_has_expected_statuses_for_every_role(world):
    routes = list(walk())
    problems = table_problems(routes)
    assert not problems, "\n".join(problems)

    clients: dict[str, Client] = {}
    for role in ROLES:  # outside the rolled-back blocks, so the sessions outlive them; one handler per role, as
        clients[role] = Client()  # loading the middleware (whitenoise scans the static files) costs ~0.1 s a client
        if role != "anon":
            clients[role].force_login(world["people"][role])

    wrong, cells = [], 0
    for pattern, key, callback in routes:
        expected = EXPECTED[key]
        answered, listed = methods_of(callback), set(expected) - {"HEAD", "OPTIONS"}  # those two: the framework's
        if answered is not None and listed - answered:
            wrong.append(f"{key}: EXPECTED lists {sorted(listed - answered)}, the view answers {sorted(answered)}")
        if answered is not None and answered - listed - {"HEAD", "OPTIONS"}:
            wrong.append(
                f"{key}: the view answers {sorted(answered - listed - {'HEAD', 'OPTIONS'})}: add their expected statuses"
            )
        url = fill(pattern, world["objects"]) + QUERY.get(key, "")
        for method, statuses in expected.items():
            codes = statuses.split()
            assert len(codes) == len(ROLES), f"{key} {method}: {len(codes)} statuses for {len(ROLES)} roles"
            for role, code in zip(ROLES, codes, strict=True):
                cells += 1
                kwargs = body(key) if method in ("POST", "PUT", "PATCH") else {}
                with transaction.atomic():  # each request sees the same world: an allowed write is undone
                    caller, cookies = clients[role], copy.deepcopy(clients[role].cookies)
                    response = (
                        caller.generic(method, url, **_encoded(kwargs))
                        if method not in ("GET", "HEAD")
                        else getattr(caller, method.lower())(url)
                    )
                    transaction.set_rollback(True)
                caller.cookies = cookies  # a login or logout among the routes must not change who asks next
                got = response.status_code
                told = getattr(
                    getattr(response.wsgi_request, "_messages", None), "_queued_messages", []
                )  # this request's
                error_told = any(m.level_tag == "error" for m in told)
                if got == 302 and error_told:
                    got = "302err"
                if (code == "ok" and not answered_ok(got)) or (code != "ok" and str(got) != code):
                    wrong.append(f"{method} {url} ({key}) as {role}: expected {code}, got {got}")
    print(f"permission matrix: {len(routes)} routes, {len(ROLES)} roles, {cells} cells")
    assert not wrong, "\n".join(wrong)


def _encoded(kwargs: dict) -> dict:
    """Client.generic takes raw bytes: encode JSON or multipart as Client.post would."""
    import json

    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    data = kwargs.pop("data", None)
    content_type = kwargs.pop("content_type", None)
    if data is None:
        return kwargs
    if content_type == "application/json":
        return {"data": json.dumps(data), "content_type": content_type, **kwargs}
    return {"data": encode_multipart(BOUNDARY, data), "content_type": MULTIPART_CONTENT, **kwargs}
