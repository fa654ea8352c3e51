"""Each business rule lives in one service or selector and holds on every path to it: the page, the API and a direct
call to the service (which a task, a command or the next view would make)."""

import pytest
from django.test import Client

from core.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError
from core.models import User
from models_app.models import ModelVersion, StageTransition
from models_app.services.registry import model_version_set_stage
from reviews.models import Campaign, Judgment
from reviews.selectors import campaign_user_is_lead, users_active_by_username
from reviews.services.judgments import judgment_discard


def page(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- a candidate's stage is set only by a verdict; a manual move needs a reason ------------------------------------


def test_the_service_refuses_to_decide_a_candidate_without_a_verdict(users, pairwise_campaign):
    candidate = ModelVersion.objects.get(model__name="calc", version="2")
    with pytest.raises(ConflictError) as refused:
        model_version_set_stage(version=candidate, to_stage="approved", actor=users["approver"], reason="looks fine")
    assert refused.value.code == "needs_verdict"
    candidate.refresh_from_db()
    assert candidate.stage == "candidate" and not StageTransition.objects.exists()


def test_the_api_cannot_approve_a_candidate_directly(api, pairwise_campaign):
    response = api["approver"].post(
        "/api/v1/models/calc/versions/2/stage/", {"stage": "approved", "reason": "trust me"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "needs_verdict"
    assert ModelVersion.objects.get(model__name="calc", version="2").stage == "candidate"


def test_a_verdict_moves_the_candidate_and_is_named_as_the_cause(users, pairwise_campaign):
    candidate = ModelVersion.objects.get(model__name="calc", version="2")
    transition = model_version_set_stage(version=candidate, to_stage="approved", actor=users["approver"], verdict_id=7)
    assert (transition.from_stage, transition.to_stage, transition.cause) == ("candidate", "approved", "verdict:7")


@pytest.fixture
def approved(users, pairwise_campaign) -> ModelVersion:
    candidate = ModelVersion.objects.get(model__name="calc", version="2")
    model_version_set_stage(version=candidate, to_stage="approved", actor=users["approver"], verdict_id=1)
    return candidate


def test_the_service_refuses_a_manual_move_without_a_reason(users, approved):
    with pytest.raises(ApplicationError) as refused:
        model_version_set_stage(version=approved, to_stage="production", actor=users["approver2"], reason="  ")
    assert refused.value.extra == {"field": "reason"}
    assert ModelVersion.objects.get(pk=approved.pk).stage == "approved"


def test_the_promote_page_refuses_a_blank_reason_and_records_a_given_one(users, approved):
    path = "/models/calc/2/promote"
    page(users["approver2"]).post(path, {"reason": "   "})
    assert ModelVersion.objects.get(pk=approved.pk).stage == "approved"
    page(users["approver2"]).post(path, {"reason": " release 2.0 "})
    last = StageTransition.objects.order_by("id").last()
    assert last is not None
    assert (last.to_stage, last.reason, last.cause) == ("production", "release 2.0", "manual")


# --- the campaign's lead: one rule for the services, the pages' controls and the judgments page --------------------


def test_the_lead_is_the_creator_or_an_admin(users, pairwise_campaign):
    campaign = Campaign.objects.get(pk=pairwise_campaign["id"])
    other_ds = User.objects.create_user("ds2", password="x", role=User.Role.DATA_SCIENTIST)
    assert campaign_user_is_lead(campaign=campaign, user=users["ds"])
    assert campaign_user_is_lead(campaign=campaign, user=users["admin"])
    assert not campaign_user_is_lead(campaign=campaign, user=other_ds)
    assert not campaign_user_is_lead(campaign=campaign, user=users["approver"])


def test_only_the_lead_is_offered_and_may_use_the_lead_controls(users, api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    other_ds = User.objects.create_user("ds2", password="x", role=User.Role.DATA_SCIENTIST)
    assert page(users["ds"]).get(f"/campaigns/{cid}/").context["lead"] is not None
    assert page(other_ds).get(f"/campaigns/{cid}/").context["lead"] is None
    assert page(users["ds"]).get(f"/campaigns/{cid}/judgments/").context["is_lead"] is True
    assert page(other_ds).get(f"/campaigns/{cid}/judgments/").context["is_lead"] is False
    # the service behind both the page and the API refuses the same person
    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    judged = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": "A"}, format="json")
    assert judged.status_code == 201, judged.json()
    judgment = Judgment.objects.get()
    with pytest.raises(ForbiddenError):
        judgment_discard(judgment=judgment, actor=other_ds, reason="I do not like it")
    page(other_ds).post(f"/judgments/{judgment.pk}/discard", {"reason": "I do not like it"})
    assert Judgment.objects.get().discarded_at is None


# --- a reviewer of the campaign: the review page and get-next apply the same membership rule ----------------------


def test_an_admin_who_is_not_a_reviewer_gets_neither_the_review_page_nor_a_task(users, api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    assert page(users["admin"]).get(f"/campaigns/{cid}/review/").status_code == 404
    assert api["admin"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 404
    Campaign.objects.get(pk=cid).reviewers.add(users["admin"])
    assert page(users["admin"]).get(f"/campaigns/{cid}/review/").status_code == 200
    assert api["admin"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 200


# --- naming reviewers: campaign creation and adding reviewers resolve usernames the same way ------------------------


def test_users_are_resolved_in_order_once_and_missing_or_inactive_ones_named(users):
    assert users_active_by_username(usernames=["rev2", "rev", "rev2"], field="reviewers") == [
        users["reviewer2"],
        users["reviewer"],
    ]
    User.objects.filter(pk=users["reviewer2"].pk).update(is_active=False)
    with pytest.raises(NotFoundError) as missing:
        users_active_by_username(usernames=["rev", "rev2", "ghost"], field="add")
    assert missing.value.message == "No such users: ghost, rev2." and missing.value.extra == {"field": "add"}


def test_an_inactive_reviewer_is_refused_when_creating_and_when_adding(users, api, loop_data, pairwise_campaign):
    User.objects.filter(pk=users["reviewer2"].pk).update(is_active=False)
    created = api["ds"].post(
        "/api/v1/campaigns/",
        {"name": "x", "kind": "pairwise", **loop_data, "reviewers": ["rev", "rev2"]},
        format="json",
    )
    assert created.status_code == 400 and created.json()["code"] == "reviewer_not_found"
    assert created.json()["extra"]["field"] == "reviewers"
    added = api["ds"].post(f"/api/v1/campaigns/{pairwise_campaign['id']}/reviewers/", {"add": ["rev2"]}, format="json")
    assert added.status_code == 400 and added.json()["code"] == "reviewer_not_found"


# --- the guidelines filter moved from core to reviews (core imports no app); the review page still renders it ------


def test_the_review_page_renders_the_guidelines_as_sanitised_markdown(users, pairwise_campaign):
    Campaign.objects.filter(pk=pairwise_campaign["id"]).update(guidelines="Rate **helpfulness**<script>x()</script>")
    html = page(users["reviewer"]).get(f"/campaigns/{pairwise_campaign['id']}/review/").content.decode()
    assert "<strong>helpfulness</strong>" in html and "<script>x()" not in html
