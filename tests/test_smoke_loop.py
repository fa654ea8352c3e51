def test_pairwise_loop_over_the_api(api, pairwise_campaign):
    reviewer = api["reviewer"]
    cid = pairwise_campaign["id"]
    seen = []
    while True:
        response = reviewer.get(f"/api/v1/campaigns/{cid}/next/")
        if response.status_code == 204:
            break
        task = response.json()
        seen.append(task["task"])
        candidate_slot = next(
            o["slot"] for o in task["outputs"] if o["output"] == str(int(task["input"].split()[2]) * 2)
        )
        assert (
            reviewer.post(
                f"/api/v1/tasks/{task['task']}/judgments/", {"choice": candidate_slot}, format="json"
            ).status_code
            == 201
        )
    assert len(seen) == 6
    results = api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["candidate"]["wins"] == 6
    assert results["gate"]["status"] == "pass"
    verdict = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "clear win"}, format="json"
    )
    assert verdict.status_code == 201, verdict.json()
    gate = api["ds"].get("/api/v1/gate/calc/2/").json()
    assert gate["status"] == "approved" and gate["stage"] == "approved"
