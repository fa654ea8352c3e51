"""Ranking, rating and labeling campaigns through the API: creation rules, blind payloads, judgment validation,
de-blinded results, gold labels, and submissions that count once however often they are retried."""

import itertools
import types

import pytest

from datasets.models import DatasetVersion
from models_app.models import ModelVersion
from reviews.models import Assignment, Campaign, Judgment, TaskOutput
from reviews.services import assignments
from reviews.stats import wilson_interval
from tests.conftest import token_client
from tests.factories import UserFactory, jsonl_file

# In loop_data (plus the third_version fixture) version ref answers item-i with 2*i + offset.
OFFSETS = {"calc:2": 0, "calc:1": 1, "calc:3": 2}
RUBRIC = [{"name": "accuracy", "scale": "likert"}, {"name": "safe", "scale": "pass_fail", "description": "no harm"}]


@pytest.fixture
def third_version(api, loop_data):
    """calc:3, answering item-i with 2*i + 2: every item shows three different outputs."""
    ds = api["ds"]
    assert ds.post("/api/v1/models/calc/versions/", {"version": "3"}, format="json").status_code == 201
    rows = [{"id": f"item-{i}", "output": str(2 * i + 2)} for i in range(6)]
    response = ds.post(
        "/api/v1/models/calc/versions/3/predictions/",
        {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return loop_data


@pytest.fixture
def rotating_slots(monkeypatch):
    """Deterministic 'random' slot orders: each assignment rotates the outputs one step further than the last."""
    steps = itertools.count()

    def rotate(seq):
        k = next(steps) % len(seq)
        seq[:] = seq[k:] + seq[:k]

    monkeypatch.setattr(assignments, "random", types.SimpleNamespace(shuffle=rotate))


def post_campaign(api, loop_data, **overrides):
    body = {
        "name": "kinds",
        "kind": "pairwise",
        **loop_data,
        "reviewers": ["rev", "rev2"],
        "overlap": 1,
        "gate": {"min_judgments": 4, "min_win_rate": 0.5, "alternative": 0.95},
        **overrides,
    }
    return api["ds"].post("/api/v1/campaigns/", body, format="json")


def create_campaign(api, loop_data, **overrides) -> int:
    response = post_campaign(api, loop_data, **overrides)
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def error_field(response) -> str | None:
    """The field a 400 names: `extra.field` from a service, or the one key of `extra.fields` from a serializer."""
    extra = response.json()["extra"]
    if "field" in extra:
        return extra["field"]
    fields = list(extra.get("fields", {}))
    return fields[0] if len(fields) == 1 else None


def item_index(task: dict) -> int:
    return int(task["item"].split("-")[1])


def slot_of(task: dict, ref: str) -> str:
    """The slot where version `ref` is shown in this task, recognised by its output."""
    output = str(2 * item_index(task) + OFFSETS[ref])
    return next(o["slot"] for o in task["outputs"] if o["output"] == output)


def next_task(client, cid) -> dict:
    response = client.get(f"/api/v1/campaigns/{cid}/next/")
    assert response.status_code == 200, response.content
    return response.json()


def judge(client, task: dict, body: dict):
    return client.post(f"/api/v1/tasks/{task['task']}/judgments/", body, format="json")


def judge_all(client, cid, pick, limit=None) -> list[dict]:
    """Take and judge tasks until none are left (or `limit` are done); pick(task, k) gives the k-th judgment body."""
    done: list[dict] = []
    while limit is None or len(done) < limit:
        response = client.get(f"/api/v1/campaigns/{cid}/next/")
        if response.status_code == 204:
            break
        assert response.status_code == 200, response.json()
        task = response.json()
        judged = judge(client, task, pick(task, len(done)))
        assert judged.status_code == 201, judged.json()
        done.append(task)
    return done


def results(api, cid) -> dict:
    response = api["approver"].get(f"/api/v1/campaigns/{cid}/results/")
    assert response.status_code == 200, response.json()
    return response.json()


# --- creating campaigns of each kind ---------------------------------------------------------------------


def test_ranking_campaign_shows_candidate_baseline_and_further_models(api, third_version):
    cid = create_campaign(api, third_version, kind="ranking", models=["calc:3"])
    campaign = api["ds"].get(f"/api/v1/campaigns/{cid}/").json()
    assert (campaign["kind"], campaign["candidate"], campaign["baseline"], campaign["models"]) == (
        "ranking",
        "calc:2",
        "calc:1",
        ["calc:3"],
    )
    assert TaskOutput.objects.filter(task__campaign_id=cid).count() == 6 * 3


def test_ranking_campaign_without_baseline_takes_its_versions_from_models(api, third_version):
    cid = create_campaign(api, third_version, kind="ranking", baseline=None, models=["calc:1", "calc:3"])
    assert Campaign.objects.get(pk=cid).baseline is None
    assert TaskOutput.objects.filter(task__campaign_id=cid).count() == 6 * 3


def test_ranking_campaign_needs_at_least_two_distinct_versions(api, loop_data):
    for overrides in (
        {"baseline": None},  # the candidate alone
        {"baseline": None, "models": ["calc:2"]},  # the candidate twice
        {"models": ["calc:1"]},  # the baseline twice
    ):
        response = post_campaign(api, loop_data, kind="ranking", **overrides)
        assert response.status_code == 400 and error_field(response) == "models", (overrides, response.json())
    assert not Campaign.objects.exists()


def test_pairwise_campaign_refuses_further_models(api, third_version):
    response = post_campaign(api, third_version, kind="pairwise", models=["calc:3"])
    assert response.status_code == 400 and error_field(response) == "models"
    assert "use ranking" in response.json()["message"]
    assert not Campaign.objects.exists()


def test_rating_campaign_stores_its_rubric_with_defaults_filled_in(api, loop_data):
    cid = create_campaign(api, loop_data, kind="rating", baseline=None, rubric=[{"name": " accuracy "}, RUBRIC[1]])
    assert Campaign.objects.get(pk=cid).rubric == [
        {"name": "accuracy", "scale": "likert", "description": ""},
        {"name": "safe", "scale": "pass_fail", "description": "no harm"},
    ]


def test_rating_campaign_refuses_a_missing_or_bad_rubric(api, loop_data):
    for rubric in (
        None,  # not given at all
        [],
        [{"name": "accuracy"}, {"name": "accuracy", "scale": "pass_fail"}],
        [{"name": "accuracy", "scale": "stars"}],
        [{"scale": "likert"}],
        [{"name": "   "}],
    ):
        overrides = {"kind": "rating", "baseline": None, **({"rubric": rubric} if rubric is not None else {})}
        response = post_campaign(api, loop_data, **overrides)
        assert response.status_code == 400 and error_field(response) == "rubric", (rubric, response.json())
    assert not Campaign.objects.exists()


def test_rating_criterion_named_like_a_slot_is_refused(api, loop_data):
    """{"A": {...}} must never be ambiguous between {slot: scores} and {criterion: value}."""
    for name in ("A", "B", "Z"):
        response = post_campaign(
            api, loop_data, kind="rating", baseline=None, rubric=[{"name": "accuracy"}, {"name": name}]
        )
        assert response.status_code == 400, response.json()
        assert response.json()["extra"] == {"field": "rubric"} and "reserved" in response.json()["message"]
    assert not Campaign.objects.exists()


def test_rating_criterion_may_be_an_acronym_that_is_not_a_slot(api, loop_data):
    cid = create_campaign(
        api, loop_data, kind="rating", baseline=None, rubric=[{"name": "LM"}, {"name": "ABC"}, {"name": "a"}]
    )
    assert [c["name"] for c in Campaign.objects.get(pk=cid).rubric] == ["LM", "ABC", "a"]
    task = next_task(api["reviewer"], cid)
    assert judge(api["reviewer"], task, {"ratings": {"LM": 5, "ABC": 4, "a": 3}}).status_code == 201
    assert Judgment.objects.get().ratings == {"A": {"LM": 5, "ABC": 4, "a": 3}}


def test_labeling_campaign_with_multi_label(api, loop_data):
    cid = create_campaign(api, loop_data, kind="labeling", baseline=None, labels=["correct", "wrong"], multi_label=True)
    campaign = Campaign.objects.get(pk=cid)
    assert (campaign.kind, campaign.multi_label, campaign.labels) == ("labeling", True, ["correct", "wrong"])
    task = next_task(api["reviewer"], cid)
    assert task["multi_label"] is True and task["labels"] == ["correct", "wrong"]


def test_labeling_campaign_needs_distinct_labels_and_only_a_candidate(api, loop_data):
    for overrides, field in (
        ({"baseline": "calc:1"}, "baseline"),
        ({"baseline": None, "models": ["calc:1"]}, "models"),
        ({"baseline": None, "labels": []}, "labels"),
        ({"baseline": None, "labels": ["correct", "correct"]}, "labels"),
    ):
        response = post_campaign(api, loop_data, kind="labeling", **{"labels": ["correct", "wrong"], **overrides})
        assert response.status_code == 400 and error_field(response) == field, (overrides, response.json())
    assert not Campaign.objects.exists()


def test_multi_label_is_ignored_outside_labeling(api, loop_data):
    cid = create_campaign(api, loop_data, kind="pairwise", labels=["x"], multi_label=True)
    campaign = Campaign.objects.get(pk=cid)
    assert campaign.multi_label is False and campaign.labels == []


# --- what a reviewer sees ---------------------------------------------------------------------------------


def test_ranking_task_shows_every_output_in_its_drawn_slot_order_and_blind(api, users, third_version):
    cid = create_campaign(api, third_version, kind="ranking", models=["calc:3"])
    response = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/")
    task = response.json()
    assert task["kind"] == "ranking" and "rubric" not in task and "labels" not in task
    assert [o["slot"] for o in task["outputs"]] == ["A", "B", "C"]
    assert all(isinstance(o["content"], dict) and o["content"]["type"] == "text" for o in task["outputs"])
    assignment = Assignment.objects.get(task_id=task["task"], reviewer=users["reviewer"])
    refs = {v.pk: str(v) for v in ModelVersion.objects.select_related("model")}
    expected = [str(2 * item_index(task) + OFFSETS[refs[version]]) for version in assignment.slot_order]
    assert [o["output"] for o in task["outputs"]] == expected
    assert [o["content"]["text"] for o in task["outputs"]] == expected
    assert assignment.candidate_slot == slot_of(task, "calc:2")
    text = response.content.decode()
    assert "calc" not in text and "candidate" not in text and "baseline" not in text


def test_rating_task_carries_the_rubric_and_one_output_without_baseline(api, loop_data):
    cid = create_campaign(api, loop_data, kind="rating", baseline=None, rubric=RUBRIC)
    response = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/")
    task = response.json()
    assert task["kind"] == "rating"
    assert task["rubric"] == Campaign.objects.get(pk=cid).rubric
    assert [(o["slot"], o["output"]) for o in task["outputs"]] == [("A", str(2 * item_index(task)))]
    assert "calc" not in response.content.decode()


def test_rating_task_with_baseline_shows_both_outputs_blind(api, loop_data):
    cid = create_campaign(api, loop_data, kind="rating", rubric=RUBRIC)
    response = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/")
    task = response.json()
    assert [o["slot"] for o in task["outputs"]] == ["A", "B"] and len(task["rubric"]) == 2
    assert "calc" not in response.content.decode()


# --- ranking judgments ------------------------------------------------------------------------------------


@pytest.fixture
def ranking_campaign(api, third_version):
    return create_campaign(api, third_version, kind="ranking", models=["calc:3"])


def test_a_complete_ranking_with_ties_is_stored_as_given(api, ranking_campaign):
    task = next_task(api["reviewer"], ranking_campaign)
    response = judge(api["reviewer"], task, {"ranking": [["B"], ["C", "A"]], "comment": "B is right"})
    assert response.status_code == 201, response.json()
    judgment = Judgment.objects.get()
    assert judgment.ranking == [["B"], ["A", "C"]] and judgment.choice == ""  # ties are kept sorted
    assert judgment.rationale == "B is right"
    assert response.json()["ranking"] == [["B"], ["A", "C"]]


def test_a_ranking_that_does_not_place_every_slot_once_is_refused(api, ranking_campaign):
    task = next_task(api["reviewer"], ranking_campaign)
    for ranking in (
        [["B"], ["A"]],  # C is missing
        [["B"], ["A", "C"], ["A"]],  # A twice
        [["B", "B"], ["A", "C"]],  # B twice in one group
        [["B"], ["A", "D"]],  # there is no D
        [["B"], ["A", "C", "D"]],
        [["B"], ["A", "C"], []],  # an empty group
        ["B", "A", "C"],  # slots, not groups
        "B > A > C",  # not a list
        {"B": 1, "A": 2, "C": 3},
    ):
        response = judge(api["reviewer"], task, {"ranking": ranking})
        assert response.status_code == 400 and error_field(response) == "ranking", (ranking, response.json())
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(task_id=task["task"]).status == Assignment.Status.OPEN


def test_a_ranking_campaign_refuses_a_pairwise_choice(api, ranking_campaign):
    task = next_task(api["reviewer"], ranking_campaign)
    response = judge(api["reviewer"], task, {"choice": "A"})
    assert response.status_code == 400 and error_field(response) == "choice"
    assert "takes ranking" in response.json()["message"]
    both = judge(api["reviewer"], task, {"choice": "A", "ranking": [["A"], ["B"], ["C"]]})
    assert both.status_code == 400 and error_field(both) == "choice"
    assert not Judgment.objects.exists()


# --- rating judgments -------------------------------------------------------------------------------------


def test_single_output_rating_takes_criterion_values_directly(api, loop_data):
    cid = create_campaign(api, loop_data, kind="rating", baseline=None, rubric=RUBRIC)
    task = next_task(api["reviewer"], cid)
    for wrong in ({"accuracy": 4}, {"B": {"accuracy": 4, "safe": "pass"}}, {"accuracy": 4, "safe": "pass", "tone": 1}):
        response = judge(api["reviewer"], task, {"ratings": wrong})
        assert response.status_code == 400 and error_field(response) == "ratings", (wrong, response.json())
    response = judge(api["reviewer"], task, {"ratings": {"accuracy": 4, "safe": "pass"}})
    assert response.status_code == 201, response.json()
    assert Judgment.objects.get().ratings == {"A": {"accuracy": 4, "safe": "pass"}}
    # the slot-keyed form is accepted too
    second = next_task(api["reviewer2"], cid)
    assert judge(api["reviewer2"], second, {"ratings": {"A": {"accuracy": 1, "safe": "fail"}}}).status_code == 201


@pytest.fixture
def rating_campaign(api, loop_data):
    return create_campaign(api, loop_data, kind="rating", rubric=RUBRIC)


GOOD = {"accuracy": 4, "safe": "pass"}


def test_multi_output_rating_takes_one_score_set_per_slot(api, rating_campaign):
    task = next_task(api["reviewer"], rating_campaign)
    body = {"ratings": {"A": GOOD, "B": {"accuracy": 2, "safe": "fail"}}}
    response = judge(api["reviewer"], task, body)
    assert response.status_code == 201, response.json()
    assert Judgment.objects.get().ratings == body["ratings"]


def test_ratings_that_do_not_fit_the_rubric_and_the_slots_are_refused(api, rating_campaign):
    task = next_task(api["reviewer"], rating_campaign)
    for ratings in (
        {"A": {"accuracy": 6, "safe": "pass"}, "B": GOOD},  # Likert above 5
        {"A": {"accuracy": 0, "safe": "pass"}, "B": GOOD},  # Likert below 1
        {"A": {"accuracy": 3.5, "safe": "pass"}, "B": GOOD},  # not a whole number
        {"A": {"accuracy": "4", "safe": "pass"}, "B": GOOD},  # a string
        {"A": {"accuracy": True, "safe": "pass"}, "B": GOOD},  # a bool is not a score
        {"A": {"accuracy": 4, "safe": 1}, "B": GOOD},  # pass/fail given a number
        {"A": {"accuracy": 4, "safe": True}, "B": GOOD},
        {"A": {"accuracy": 4, "safe": "PASS"}, "B": GOOD},
        {"A": {"accuracy": 4}, "B": GOOD},  # a criterion missing
        {"A": {"accuracy": 4, "safe": "pass", "tone": 3}, "B": GOOD},  # a criterion not in the rubric
        {"A": GOOD},  # a slot missing
        {"A": GOOD, "B": GOOD, "C": GOOD},  # a slot that is not shown
        {"accuracy": 4, "safe": "pass"},  # the single-output form on a two-output task
        {"A": 4, "B": 4},
        [GOOD, GOOD],
    ):
        response = judge(api["reviewer"], task, {"ratings": ratings})
        assert response.status_code == 400 and error_field(response) == "ratings", (ratings, response.json())
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(task_id=task["task"]).status == Assignment.Status.OPEN


def test_a_rating_campaign_refuses_a_ranking(api, rating_campaign):
    task = next_task(api["reviewer"], rating_campaign)
    response = judge(api["reviewer"], task, {"ranking": [["A"], ["B"]]})
    assert response.status_code == 400 and error_field(response) == "ranking"


# --- results ----------------------------------------------------------------------------------------------


def ranked(task: dict, *refs) -> dict:
    """A ranking body from groups of version refs (a str, or a tuple of tied refs), best first."""
    groups = [ref if isinstance(ref, tuple) else (ref,) for ref in refs]
    return {"ranking": [[slot_of(task, ref) for ref in group] for group in groups]}


def test_ranking_results_deblind_every_slot_order_into_mean_ranks_and_candidate_wins(
    api, third_version, rotating_slots
):
    cid = create_campaign(api, third_version, kind="ranking", baseline=None, models=["calc:1", "calc:3"], overlap=2)
    for role in ("reviewer", "reviewer2"):
        judge_all(api[role], cid, lambda task, k: ranked(task, "calc:2", "calc:3", "calc:1"))
    # the candidate was shown in every slot, so the same verdict was given with different letters
    assert set(Assignment.objects.values_list("candidate_slot", flat=True)) == {"A", "B", "C"}
    assert len({repr(ranking) for ranking in Judgment.objects.values_list("ranking", flat=True)}) == 3
    body = results(api, cid)
    assert body["judgments"] == 12
    # no baseline: each ranking is one comparison with each of the two other versions
    assert body["candidate"] == {"wins": 24, "losses": 0, "ties": 0, "both_bad": 0}
    assert body["win_rate"]["estimate"] == 1.0
    assert {ref: figures["mean"] for ref, figures in body["mean_rank"].items()} == {
        "calc:2": 1.0,
        "calc:3": 2.0,
        "calc:1": 3.0,
    }
    assert all(figures["n"] == 12 for figures in body["mean_rank"].values())
    assert "every other version" in body["win_rate_method"]


def test_ranking_results_with_baseline_compare_the_candidate_with_the_baseline_only(api, ranking_campaign):
    plan = [("calc:2", "calc:3", "calc:1")] * 4 + [(("calc:2", "calc:1"), "calc:3"), ("calc:3", "calc:1", "calc:2")]
    judge_all(api["reviewer"], ranking_campaign, lambda task, k: ranked(task, *plan[k]))
    body = results(api, ranking_campaign)
    assert body["candidate"] == {"wins": 4, "losses": 1, "ties": 1, "both_bad": 0}
    assert body["win_rate"]["estimate"] == pytest.approx(4.5 / 6)
    mean = {ref: figures["mean"] for ref, figures in body["mean_rank"].items()}
    assert mean == pytest.approx({"calc:2": 8.5 / 6, "calc:1": 15.5 / 6, "calc:3": 2.0})
    low, high = body["mean_rank"]["calc:2"]["low"], body["mean_rank"]["calc:2"]["high"]
    assert low < mean["calc:2"] < high


def test_rating_results_without_baseline_count_acceptable_outputs_and_summarise_criteria(api, loop_data):
    cid = create_campaign(api, loop_data, kind="rating", baseline=None, rubric=RUBRIC)
    plan = [(5, "pass"), (4, "pass"), (4, "fail"), (3, "pass"), (5, "pass"), (2, "pass")]
    judge_all(api["reviewer"], cid, lambda task, k: {"ratings": {"accuracy": plan[k][0], "safe": plan[k][1]}})
    body = results(api, cid)
    # acceptable = every pass/fail passes and every Likert is 4 or more: judgments 0, 1 and 4
    assert body["candidate"] == {"wins": 3, "losses": 3, "ties": 0, "both_bad": 0}
    assert "acceptable" in body["win_rate_method"]
    criteria = body["criteria"]["calc:2"]
    assert criteria["accuracy"]["mean"] == pytest.approx(23 / 6) and criteria["accuracy"]["n"] == 6
    passed = wilson_interval(5, 6)
    assert (criteria["safe"]["mean"], criteria["safe"]["low"], criteria["safe"]["high"]) == pytest.approx(
        (5 / 6, passed.low, passed.high)
    )
    assert list(body["criteria"]) == ["calc:2"]


def test_rating_results_with_baseline_compare_normalised_scores_per_judgment(api, rating_campaign):
    # (candidate, baseline): normalised = mean of (likert - 1) / 4 and pass = 1 / fail = 0
    plan = [
        ((5, "pass"), (3, "pass")),  # 1.0 vs 0.75: win
        ((2, "pass"), (4, "pass")),  # 0.625 vs 0.875: loss
        ((4, "fail"), (4, "fail")),  # equal: tie
        ((3, "pass"), (5, "fail")),  # 0.75 vs 0.5: win, though not 'acceptable' on its own
    ]

    def rate(task, k):
        (ca, cs), (ba, bs) = plan[k]
        return {
            "ratings": {
                slot_of(task, "calc:2"): {"accuracy": ca, "safe": cs},
                slot_of(task, "calc:1"): {"accuracy": ba, "safe": bs},
            }
        }

    judge_all(api["reviewer"], rating_campaign, rate, limit=4)
    body = results(api, rating_campaign)
    assert body["candidate"] == {"wins": 2, "losses": 1, "ties": 1, "both_bad": 0}
    assert "beats the baseline" in body["win_rate_method"]
    assert body["criteria"]["calc:2"]["accuracy"]["mean"] == pytest.approx(14 / 4)
    assert body["criteria"]["calc:1"]["accuracy"]["mean"] == pytest.approx(16 / 4)
    assert body["criteria"]["calc:2"]["safe"]["mean"] == pytest.approx(3 / 4)
    assert body["criteria"]["calc:1"]["safe"]["mean"] == pytest.approx(2 / 4)


# --- gold labels ------------------------------------------------------------------------------------------


@pytest.fixture
def rev3(users):
    return token_client(UserFactory.create(username="rev3"))


GOLD_PLAN = {  # item -> the labels rev, rev2 and rev3 give
    0: ("correct", "correct", "correct"),
    1: ("correct", "correct", "wrong"),
    2: ("wrong", "wrong", "correct"),
    3: ("wrong", "wrong", "wrong"),
    4: ("correct", "wrong", "unsure"),  # no majority
    5: ("unsure", "unsure", "correct"),
}


def test_gold_labels_publish_the_majority_label_as_a_new_dataset_version(api, loop_data, rev3):
    cid = create_campaign(
        api,
        loop_data,
        kind="labeling",
        baseline=None,
        labels=["correct", "wrong", "unsure"],
        reviewers=["rev", "rev2", "rev3"],
        overlap=3,
    )
    for who, client in enumerate((api["reviewer"], api["reviewer2"], rev3)):
        judge_all(client, cid, lambda task, k, who=who: {"labels": [GOLD_PLAN[item_index(task)][who]]})
    response = api["ds"].post(f"/api/v1/campaigns/{cid}/gold/")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["dataset"], body["version"], body["items"], body["labelled"]) == ("arith", 2, 6, 5)
    assert body["unresolved"] == ["item-4"]
    version = DatasetVersion.objects.get(dataset__name="arith", number=2)
    assert body["sha256"] == version.sha256
    references = dict(version.items.values_list("external_id", "reference"))
    assert references == {
        "item-0": "correct",
        "item-1": "correct",
        "item-2": "wrong",
        "item-3": "wrong",
        "item-4": "8",
        "item-5": "unsure",
    }  # item-4 keeps its reference
    original = DatasetVersion.objects.get(dataset__name="arith", number=1)
    assert dict(original.items.values_list("external_id", "reference"))["item-0"] == "0"  # versions are immutable
    assert list(version.items.values_list("tags", flat=True)) == list(original.items.values_list("tags", flat=True))


def test_gold_labels_of_a_multi_label_campaign_are_label_lists(api, loop_data):
    cid = create_campaign(
        api, loop_data, kind="labeling", baseline=None, labels=["correct", "wrong"], multi_label=True, overlap=2
    )
    for role in ("reviewer", "reviewer2"):
        judge_all(api[role], cid, lambda task, k: {"labels": ["wrong", "correct"]})
    response = api["ds"].post(f"/api/v1/campaigns/{cid}/gold/")
    assert response.status_code == 201, response.json()
    version = DatasetVersion.objects.get(dataset__name="arith", number=response.json()["version"])
    references = version.items.values_list("reference", flat=True)
    assert {None if r is None else tuple(r) for r in references} == {("correct", "wrong")}


def test_gold_labels_ignore_discarded_judgments(api, loop_data):
    cid = create_campaign(api, loop_data, kind="labeling", baseline=None, labels=["correct", "wrong"], overlap=2)
    judge_all(api["reviewer"], cid, lambda task, k: {"labels": ["correct"]})
    judge_all(api["reviewer2"], cid, lambda task, k: {"labels": ["wrong"]})
    for judgment in Judgment.objects.filter(reviewer__username="rev2"):
        assert (
            api["ds"].post(f"/api/v1/judgments/{judgment.pk}/discard/", {"reason": "spam"}, format="json").status_code
            == 200
        )
    body = api["ds"].post(f"/api/v1/campaigns/{cid}/gold/").json()
    assert (body["labelled"], body["unresolved"]) == (6, [])


def test_gold_labels_need_the_campaign_lead(api, loop_data):
    cid = create_campaign(api, loop_data, kind="labeling", baseline=None, labels=["correct", "wrong"])
    judge_all(api["reviewer"], cid, lambda task, k: {"labels": ["correct"]}, limit=1)
    other_ds = token_client(UserFactory.create(username="ds2", role="data_scientist"))
    response = other_ds.post(f"/api/v1/campaigns/{cid}/gold/")
    assert response.status_code == 403 and response.json()["code"] == "not_campaign_lead"
    assert api["reviewer"].post(f"/api/v1/campaigns/{cid}/gold/").status_code == 403
    assert DatasetVersion.objects.count() == 1
    assert api["admin"].post(f"/api/v1/campaigns/{cid}/gold/").status_code == 201


def test_gold_labels_only_come_from_a_labeling_campaign(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    response = api["ds"].post(f"/api/v1/campaigns/{cid}/gold/")
    assert response.status_code == 400 and response.json()["code"] == "not_labeling"
    assert DatasetVersion.objects.count() == 1


def test_gold_labels_need_at_least_one_judgment(api, loop_data):
    cid = create_campaign(api, loop_data, kind="labeling", baseline=None, labels=["correct", "wrong"])
    response = api["ds"].post(f"/api/v1/campaigns/{cid}/gold/")
    assert response.status_code == 400 and response.json()["code"] == "no_judgments"


# --- submissions count once -------------------------------------------------------------------------------


def test_a_retried_submission_with_the_same_client_id_is_recorded_once(api, pairwise_campaign):
    task = next_task(api["reviewer"], pairwise_campaign["id"])
    first = judge(api["reviewer"], task, {"choice": "A", "client_id": "c-1", "duration_ms": 1200})
    again = judge(api["reviewer"], task, {"choice": "A", "client_id": "c-1", "duration_ms": 1200})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json() == first.json()
    assert Judgment.objects.count() == 1
    judgment = Judgment.objects.get()
    assert (judgment.client_id, judgment.duration_ms) == ("c-1", 1200)
    assert results(api, pairwise_campaign["id"])["judgments"] == 1


def test_a_retry_returns_the_first_judgment_even_if_its_body_changed(api, pairwise_campaign):
    task = next_task(api["reviewer"], pairwise_campaign["id"])
    first = judge(api["reviewer"], task, {"choice": "A", "client_id": "c-1"})
    again = judge(api["reviewer"], task, {"choice": "B", "client_id": "c-1"})
    assert again.status_code == 200 and again.json()["choice"] == "A" == first.json()["choice"]


def test_a_second_submission_with_another_client_id_is_already_judged(api, pairwise_campaign):
    task = next_task(api["reviewer"], pairwise_campaign["id"])
    assert judge(api["reviewer"], task, {"choice": "A", "client_id": "c-1"}).status_code == 201
    other = judge(api["reviewer"], task, {"choice": "B", "client_id": "c-2"})
    assert other.status_code == 409 and other.json()["code"] == "already_judged"
    assert list(Judgment.objects.values_list("client_id", "choice")) == [("c-1", "A")]


def test_client_ids_are_per_reviewer(api, loop_data):
    cid = create_campaign(api, loop_data, overlap=2)
    mine, theirs = next_task(api["reviewer"], cid), next_task(api["reviewer2"], cid)
    assert judge(api["reviewer"], mine, {"choice": "A", "client_id": "same"}).status_code == 201
    assert judge(api["reviewer2"], theirs, {"choice": "B", "client_id": "same"}).status_code == 201
    assert Judgment.objects.count() == 2


def test_a_client_id_used_for_one_task_cannot_answer_for_another(api, pairwise_campaign):
    reviewer = api["reviewer"]
    cid = pairwise_campaign["id"]
    first = reviewer.get(f"/api/v1/campaigns/{cid}/next/").json()
    assert (
        reviewer.post(
            f"/api/v1/tasks/{first['task']}/judgments/", {"choice": "A", "client_id": "k1"}, format="json"
        ).status_code
        == 201
    )
    second = reviewer.get(f"/api/v1/campaigns/{cid}/next/").json()
    reused = reviewer.post(
        f"/api/v1/tasks/{second['task']}/judgments/", {"choice": "B", "client_id": "k1"}, format="json"
    )
    assert reused.status_code == 409 and reused.json()["code"] == "client_id_reused"
