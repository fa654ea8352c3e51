"""Campaign exports: judgments de-blinded and per-item results, as JSON Lines and CSV, streamed, to those who may
see results only; CSV cells that a spreadsheet would run as formulas are defused."""

import csv
import io
import json
from typing import Any

import pytest
from django.http import StreamingHttpResponse

from models_app.models import ModelVersion
from reviews.models import SLOTS, Assignment, Judgment
from tests.factories import jsonl_file

RUBRIC = [{"name": "accuracy", "scale": "likert"}, {"name": "safe", "scale": "pass_fail"}]


def body_of(response) -> str:
    assert isinstance(response, StreamingHttpResponse), type(response)
    return response.getvalue().decode()


def jsonl_rows(response) -> list[dict]:
    assert response.status_code == 200, response
    return [json.loads(line) for line in body_of(response).splitlines()]


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response
    return list(csv.DictReader(io.StringIO(body_of(response), newline="")))


def create_campaign(api, loop_data, **overrides) -> int:
    body = {
        "name": "export me",
        "kind": "pairwise",
        **loop_data,
        "reviewers": ["rev", "rev2"],
        "overlap": 1,
        "gate": {"min_judgments": 4, "min_win_rate": 0.5, "alternative": 0.95},
        **overrides,
    }
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def judge_next(client, cid, body: dict) -> dict:
    """Claim the reviewer's next task and judge it; returns the task payload and the judgment."""
    task = client.get(f"/api/v1/campaigns/{cid}/next/")
    assert task.status_code == 200, task.content
    task = task.json()
    response = client.post(f"/api/v1/tasks/{task['task']}/judgments/", body, format="json")
    assert response.status_code == 201, response.json()
    return {"task": task, "judgment": response.json()}


def version_name(version_id: int) -> str:
    return str(ModelVersion.objects.select_related("model").get(pk=version_id))


@pytest.fixture
def judged_pairwise(api, pairwise_campaign):
    """Four pairwise judgments by rev: A, B, tie, both bad; the second with a comment that is a formula."""
    cid = pairwise_campaign["id"]
    bodies: list[dict[str, Any]] = [
        {"choice": "A", "comment": "A reads better", "duration_ms": 1200},
        {"choice": "B", "comment": '=HYPERLINK("http://evil.example","click")', "duration_ms": 800},
        {"choice": "tie"},
        {"choice": "both_bad", "comment": "@SUM(A1:A9)"},
    ]
    judged = [judge_next(api["reviewer"], cid, body) for body in bodies]
    return cid, judged


# --- judgments ---------------------------------------------------------------------------------------------


def test_judgment_export_names_the_model_version_behind_each_pairwise_choice(api, judged_pairwise):
    cid, judged = judged_pairwise
    rows = jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl"))
    assert [row["judgment"] for row in rows] == [j["judgment"]["id"] for j in judged]
    for row in rows:
        judgment = Judgment.objects.select_related("assignment", "task__item", "reviewer").get(pk=row["judgment"])
        order = judgment.assignment.slot_order
        assert row["item"] == judgment.task.item.external_id and row["reviewer"] == "rev"
        assert (row["candidate"], row["baseline"]) == ("calc:2", "calc:1")
        assert row["slots"] == {SLOTS[k]: version_name(v) for k, v in enumerate(order)}
        assert row["choice"] == judgment.choice
        if judgment.choice in ("A", "B"):
            chosen = version_name(order[SLOTS.index(judgment.choice)])  # de-blinded independently of the export
            assert row["winner_version"] == chosen
            assert row["winner"] == ("candidate" if chosen == "calc:2" else "baseline")
            assert row["outcome"] == (1.0 if chosen == "calc:2" else 0.0)
        else:
            assert row["winner"] == judgment.choice and row["winner_version"] is None and row["outcome"] == 0.5
        assert row["comment"] == judgment.rationale and row["duration_ms"] == judgment.duration_ms
        assert row["created_at"] == judgment.created_at.isoformat()
        assert row["status"] == "counted" and row["retracted_at"] is None and row["discard_reason"] == ""


def test_judgments_csv_parses_back_to_the_jsonl_rows(api, judged_pairwise):
    cid, _ = judged_pairwise
    response = api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="signoff-campaign-{cid}-judgments.csv"'
    from_csv = csv_rows(response)
    from_jsonl = jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl"))
    assert len(from_csv) == len(from_jsonl) == 4
    assert list(from_csv[0]) == list(from_jsonl[0])  # same columns, same order
    for cells, row in zip(from_csv, from_jsonl, strict=True):
        assert cells["judgment"] == str(row["judgment"]) and cells["item"] == row["item"]
        assert json.loads(cells["slots"]) == row["slots"]  # objects are compact JSON in a cell
        assert cells["winner_version"] == (row["winner_version"] or "")
        assert float(cells["outcome"]) == row["outcome"]
        assert cells["comment"].lstrip("'") == row["comment"]


def test_csv_defuses_cells_a_spreadsheet_would_run_as_formulas(api, judged_pairwise):
    cid, _ = judged_pairwise
    comments = [row["comment"] for row in csv_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.csv"))]
    assert comments == ["A reads better", '\'=HYPERLINK("http://evil.example","click")', "", "'@SUM(A1:A9)"]
    # JSON Lines is data, not a spreadsheet: the comment is exactly what the reviewer wrote
    raw = [row["comment"] for row in jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl"))]
    assert raw[1] == '=HYPERLINK("http://evil.example","click")'


def test_csv_cell_defuses_every_formula_prefix_but_leaves_numbers_alone():
    from reviews.services.exports import csv_cell

    for text in ("=1+1", "+1", "-1+2", "@cmd", "\tx", "\rx"):
        assert csv_cell(text) == "'" + text
    assert csv_cell(-1) == "-1" and csv_cell(-0.5) == "-0.5" and csv_cell(None) == "" and csv_cell(True) == "true"
    assert csv_cell({"a": [1, "=x"]}) == '{"a":[1,"=x"]}'  # JSON starts with a brace: nothing to run


def test_export_has_counted_judgments_by_default_and_undone_and_discarded_ones_with_include_all(api, judged_pairwise):
    cid, judged = judged_pairwise
    undone, discarded = judged[0]["judgment"]["id"], judged[1]["judgment"]["id"]
    assert api["reviewer"].post(f"/api/v1/judgments/{undone}/undo/").status_code == 200
    redone = api["reviewer"].post(
        f"/api/v1/tasks/{judged[0]['task']['task']}/judgments/", {"choice": "tie"}, format="json"
    )
    assert redone.status_code == 201
    response = api["ds"].post(
        f"/api/v1/judgments/{discarded}/discard/", {"reason": "clicked without reading"}, format="json"
    )
    assert response.status_code == 200, response.json()

    counted = jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl"))
    assert {row["judgment"] for row in counted} == set(Judgment.objects.counted().values_list("id", flat=True))
    assert undone not in {row["judgment"] for row in counted} and discarded not in {row["judgment"] for row in counted}
    assert len(counted) == 3 and {row["status"] for row in counted} == {"counted"}  # 4 - undone + redone - discarded

    every = {
        row["judgment"]: row
        for row in jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl?include=all"))
    }
    assert len(every) == 5
    assert every[undone]["status"] == "retracted" and every[undone]["retracted_at"]
    assert every[discarded]["status"] == "discarded" and every[discarded]["discard_reason"] == "clicked without reading"
    assert every[discarded]["discarded_by"] == "ds" and every[discarded]["discarded_at"]
    by_csv = {
        int(r["judgment"]): r for r in csv_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.csv?include=all"))
    }
    assert (
        by_csv[discarded]["status"] == "discarded" and by_csv[discarded]["discard_reason"] == "clicked without reading"
    )

    bad = api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl?include=everything")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


@pytest.mark.parametrize("path", ["judgments.jsonl", "judgments.csv", "results.jsonl", "results.csv"])
def test_only_those_who_may_see_results_may_export(api, judged_pairwise, path):
    cid, _ = judged_pairwise
    for role in ("reviewer", "reviewer2"):  # a reviewer of the campaign included: exports are de-blinded
        response = api[role].get(f"/api/v1/campaigns/{cid}/{path}")
        assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    for role in ("ds", "approver", "admin"):
        assert api[role].get(f"/api/v1/campaigns/{cid}/{path}").status_code == 200
    missing = api["ds"].get(f"/api/v1/campaigns/999999/{path}")
    assert missing.status_code == 404 and missing.json()["code"] == "campaign_not_found"


def test_anonymous_caller_cannot_export(client, judged_pairwise):
    cid, _ = judged_pairwise
    assert client.get(f"/api/v1/campaigns/{cid}/judgments.csv").status_code in (401, 403)


def test_export_streams_in_a_fixed_number_of_queries(api, judged_pairwise, django_assert_max_num_queries):
    cid, _ = judged_pairwise
    for path in ("judgments.jsonl", "results.csv"):
        response = api["ds"].get(f"/api/v1/campaigns/{cid}/{path}")
        assert response.streaming
        with django_assert_max_num_queries(3):  # not one per judgment or item
            body_of(response)


def test_accept_header_asking_for_csv_gets_the_csv(api, judged_pairwise):
    cid, _ = judged_pairwise
    response = api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and len(csv_rows(response)) == 4


# --- results per item --------------------------------------------------------------------------------------


def test_pairwise_results_have_one_row_per_item_with_the_candidate_outcomes(api, users, loop_data):
    cid = create_campaign(api, loop_data, overlap=2)
    for client in (api["reviewer"], api["reviewer2"]):
        for _ in range(3):
            task = client.get(f"/api/v1/campaigns/{cid}/next/").json()
            candidate_slot = Assignment.objects.get(
                task_id=task["task"], reviewer__username="rev" if client is api["reviewer"] else "rev2"
            ).candidate_slot
            item = int(task["item"].split("-")[1])
            # rev always picks the candidate; rev2 the candidate on even items and the baseline on odd ones
            picks_candidate = client is api["reviewer"] or item % 2 == 0
            choice = candidate_slot if picks_candidate else ("B" if candidate_slot == "A" else "A")
            assert (
                client.post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": choice}, format="json").status_code
                == 201
            )

    rows = jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/results.jsonl"))
    assert [row["item"] for row in rows] == [f"item-{i}" for i in range(6)]  # every item, judged or not
    for row in rows:
        n = Judgment.objects.counted().filter(task_id=row["task"]).count()
        assert row["judgments"] == n
        assert row["tags"] == ["even" if int(row["item"].split("-")[1]) % 2 == 0 else "odd"]
        if n == 0:
            assert row["candidate_score"] is None and row["candidate_wins"] == 0
            continue
        judged_by_rev2 = Judgment.objects.filter(task_id=row["task"], reviewer__username="rev2").exists()
        odd = int(row["item"].split("-")[1]) % 2 == 1
        losses = int(judged_by_rev2 and odd)
        assert (row["candidate_wins"], row["candidate_losses"], row["ties"], row["both_bad"]) == (
            n - losses,
            losses,
            0,
            0,
        )
        assert row["candidate_score"] == pytest.approx((n - losses) / n)

    cells = csv_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/results.csv"))
    assert [c["item"] for c in cells] == [r["item"] for r in rows]
    assert [json.loads(c["tags"]) for c in cells] == [r["tags"] for r in rows]
    assert [c["candidate_score"] for c in cells] == [
        "" if r["candidate_score"] is None else repr(r["candidate_score"]) for r in rows
    ]


@pytest.fixture
def third_version(api, loop_data):
    assert api["ds"].post("/api/v1/models/calc/versions/", {"version": "3"}, format="json").status_code == 201
    rows = [{"id": f"item-{i}", "output": str(2 * i + 2)} for i in range(6)]
    response = api["ds"].post(
        "/api/v1/models/calc/versions/3/predictions/",
        {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return loop_data


def test_ranking_exports_name_versions_and_mean_ranks(api, third_version):
    cid = create_campaign(api, third_version, kind="ranking", models=["calc:3"], overlap=2)
    judged = [
        judge_next(api["reviewer"], cid, {"ranking": [["A"], ["B"], ["C"]]}),
        judge_next(api["reviewer2"], cid, {"ranking": [["C"], ["A", "B"]]}),
    ]
    # rev2 judged the same first item (overlap 2, same hand-out order)
    assert judged[0]["task"]["task"] == judged[1]["task"]["task"]
    rows = {row["judgment"]: row for row in jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl"))}
    positions: dict[str, list[float]] = {}
    for j in judged:
        judgment = Judgment.objects.select_related("assignment").get(pk=j["judgment"]["id"])
        order = [version_name(v) for v in judgment.assignment.slot_order]
        row = rows[judgment.pk]
        assert row["ranking_as_shown"] == judgment.ranking
        assert [sorted(group) for group in row["ranking"]] == [
            sorted(order[SLOTS.index(s)] for s in group) for group in judgment.ranking
        ]
        for version, place in row["positions"].items():
            positions.setdefault(version, []).append(place)
    results = [r for r in jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/results.jsonl")) if r["judgments"]]
    assert len(results) == 1 and results[0]["judgments"] == 2
    assert results[0]["mean_rank"] == pytest.approx({v: sum(p) / len(p) for v, p in positions.items()})
    assert set(results[0]["mean_rank"]) == {"calc:1", "calc:2", "calc:3"}


def test_rating_exports_name_versions_and_mean_ratings_per_criterion(api, loop_data):
    cid = create_campaign(api, loop_data, kind="rating", rubric=RUBRIC, overlap=2)
    first = judge_next(
        api["reviewer"], cid, {"ratings": {"A": {"accuracy": 5, "safe": "pass"}, "B": {"accuracy": 2, "safe": "fail"}}}
    )
    second = judge_next(
        api["reviewer2"], cid, {"ratings": {"A": {"accuracy": 3, "safe": "pass"}, "B": {"accuracy": 4, "safe": "pass"}}}
    )
    assert second["task"]["item"] == first["task"]["item"]  # overlap 2: both judged the same item
    given: dict[str, list[dict[str, Any]]] = {}
    for j in (first, second):
        judgment = Judgment.objects.select_related("assignment").get(pk=j["judgment"]["id"])
        for slot, scores in judgment.ratings.items():
            given.setdefault(version_name(judgment.assignment.version_in(slot)), []).append(scores)
    rows = {row["judgment"]: row for row in jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl"))}
    assert rows[first["judgment"]["id"]]["ratings"] == {
        version_name(
            Assignment.objects.get(task_id=first["task"]["task"], reviewer__username="rev").version_in(slot)
        ): scores
        for slot, scores in Judgment.objects.get(pk=first["judgment"]["id"]).ratings.items()
    }
    result = next(r for r in jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/results.jsonl")) if r["judgments"])
    assert result["mean_ratings"] == (
        {  # means of a few small integers: exact
            version: {
                "accuracy": sum(s["accuracy"] for s in scores) / len(scores),
                "safe": sum(s["safe"] == "pass" for s in scores) / len(scores),
            }
            for version, scores in given.items()
        }
    )


def test_labeling_results_give_consensus_votes_and_agreement(api, loop_data):
    # the candidate answers item-i with str(2*i): labels "0" and "2" make item-0 and item-1 agreeable
    cid = create_campaign(api, loop_data, kind="labeling", baseline=None, labels=["0", "2", "other"], overlap=2)
    a = judge_next(api["reviewer"], cid, {"labels": ["0"], "comment": "-1 is not it"})
    assert judge_next(api["reviewer2"], cid, {"labels": ["0"]})["task"]["item"] == a["task"]["item"]
    b = judge_next(api["reviewer"], cid, {"labels": ["other"]})
    assert judge_next(api["reviewer2"], cid, {"labels": ["2"]})["task"]["item"] == b["task"]["item"]
    by_item = {r["item"]: r for r in jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/results.jsonl"))}
    agreed, split = by_item[a["task"]["item"]], by_item[b["task"]["item"]]
    assert (agreed["consensus"], agreed["votes"], agreed["unanimous"], agreed["tied"]) == (["0"], {"0": 2}, True, False)
    assert agreed["candidate_agrees"] is (a["task"]["item"] == "item-0")
    assert (split["consensus"], split["votes"], split["unanimous"], split["tied"]) == (
        None,
        {"other": 1, "2": 1},
        False,
        True,
    )
    assert split["candidate_agrees"] is None
    judgments = jsonl_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl"))
    assert judgments[0]["labels"] == ["0"] and judgments[0]["suggestion"] == str(
        2 * int(a["task"]["item"].split("-")[1])
    )
    cells = csv_rows(api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.csv"))
    assert cells[0]["comment"] == "'-1 is not it" and json.loads(cells[0]["labels"]) == ["0"]


def test_results_page_links_the_downloads(client, users, judged_pairwise):
    cid, _ = judged_pairwise
    client.force_login(users["ds"])
    page = client.get(f"/campaigns/{cid}/").content.decode()
    for path in ("judgments.csv", "judgments.jsonl", "judgments.csv?include=all", "results.csv", "results.jsonl"):
        assert f'href="/api/v1/campaigns/{cid}/{path}"' in page
    session_download = client.get(f"/api/v1/campaigns/{cid}/results.csv")  # the browser's session is enough
    assert session_download.status_code == 200 and len(csv_rows(session_download)) == 6
