"""Every list pages, searches and filters, at 1,000 campaigns and 10,000 items: a bounded number of queries per
page and endpoint, page links that keep the search and filters, filters that filter, and the approver's queue."""

import re

import pytest
from django.db import transaction

from bench.list_pages import URLS, build_lists
from models_app.models import ModelVersion
from reviews.models import Campaign
from tests.conftest import create_users

pytestmark = pytest.mark.django_db

# session, user, (count,) rows and what they show: a fixed number, whatever the page and however many rows
MAX_QUERIES_PAGE = 8
MAX_QUERIES_API = 7


@pytest.fixture(scope="module")
def lists(django_db_setup, django_db_blocker):
    """The users and the world at scale, built once for the module (a few seconds each time) inside a transaction
    that is rolled back when the module ends. Each test runs in a savepoint within it (pytest-django's `db`), so what
    a test changes is undone before the next, as with Django's TestCase.setUpTestData."""
    with django_db_blocker.unblock(), transaction.atomic():
        people = create_users()
        yield people, build_lists(campaigns=1000, items=10_000)
        transaction.set_rollback(True)


@pytest.fixture
def users(lists, db):
    return lists[0]


@pytest.fixture
def world(lists, db):
    return lists[1]


@pytest.fixture
def logged_in(client, users):
    def as_(role: str):
        client.force_login(users[role])
        return client

    return as_


def test_every_list_page_and_endpoint_runs_a_bounded_number_of_queries(world, logged_in, django_assert_max_num_queries):
    for who, url in URLS:
        client = logged_in({"ds": "ds", "reviewer": "reviewer", "approver": "approver"}[who])
        bound = MAX_QUERIES_API if url.startswith("/api/") else MAX_QUERIES_PAGE
        with django_assert_max_num_queries(bound):
            response = client.get(url)
        assert response.status_code == 200, url


def test_api_pages_follow_next_through_every_row_once(world, logged_in):
    client = logged_in("ds")
    page = client.get("/api/v1/campaigns/?kind=pairwise&page_size=100").json()
    assert page["count"] == 250 and len(page["results"]) == 100 and page["previous"] is None
    assert "kind=pairwise" in page["next"] and "page=2" in page["next"] and "page_size=100" in page["next"]
    seen = [c["id"] for c in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [c["id"] for c in page["results"]]
    expected = set(Campaign.objects.filter(kind="pairwise").values_list("id", flat=True))
    assert len(seen) == len(set(seen)) == 250 and set(seen) == expected
    assert len(client.get("/api/v1/campaigns/").json()["results"]) == 50  # the default page
    assert len(client.get("/api/v1/campaigns/?page_size=5000").json()["results"]) == 500  # the ceiling
    assert client.get("/api/v1/campaigns/?page=999").status_code == 404
    assert client.get("/api/v1/campaigns/?page_size=many").json()["code"] == "invalid"


def test_api_filters_filter(world, logged_in, users):
    client = logged_in("ds")

    def count(query: str) -> int:
        response = client.get(f"/api/v1/campaigns/?{query}")
        assert response.status_code == 200, response.json()
        return response.json()["count"]

    assert count("decided=true") == 200 and count("decided=false") == 800
    assert count("kind=rating&decided=true") == Campaign.objects.filter(kind="rating").exclude(decision="").count()
    assert count("search=campaign 012") == 10  # campaign 0120 .. 0129
    model_3 = ModelVersion.objects.filter(model__name="model-3")
    assert (
        count("model=model-3")
        == Campaign.objects.filter(candidate__in=model_3).count()
        + Campaign.objects.filter(baseline__in=model_3).exclude(candidate__in=model_3).count()
    )
    assert count("dataset=big") == 1000 and count("dataset=dataset-001") == 0
    assert count("mine=true") == 1000 and count("mine=false") == 0  # the data scientist set them all up
    assert client.get("/api/v1/campaigns/?kind=nonsense").status_code == 400
    # a yes/no filter reads true/false (or 1/0); anything else is refused and named, not read as "unset"
    assert count("decided=1") == 200 and count("decided=0") == 800
    for query in ("decided=1760315", "mine=maybe"):
        refused = client.get(f"/api/v1/campaigns/?{query}")
        assert refused.status_code == 400 and query.split("=")[0] in refused.content.decode(), query
    assert client.get("/api/v1/webhooks/?active=yes").status_code == 400
    assert client.get("/campaigns/?decided=1760315").status_code == 200  # a page ignores what it cannot read
    assert client.get("/api/v1/datasets/?search=dataset-11").json()["count"] == 10
    assert client.get("/api/v1/webhooks/?search=receiver 10").json()["count"] == 10
    assert client.get("/api/v1/models/model-1/versions/?stage=candidate").json()["count"] == 2


def test_a_reviewer_cannot_filter_blind_campaigns_by_model_dataset_or_gate(world, logged_in):
    """A filter by model would tell a reviewer which model their blind campaign judges: it is ignored for them."""
    client = logged_in("reviewer")
    for query in ("model=model-3", "decided=true", "dataset=nothing-like-it"):
        assert client.get(f"/api/v1/campaigns/?{query}").json()["count"] == 1000
    assert client.get("/api/v1/campaigns/?kind=ranking").json()["count"] == 250
    assert 'name="model"' not in client.get("/campaigns/").content.decode()


def test_campaign_page_links_keep_the_search_and_filters(world, logged_in):
    html = logged_in("ds").get("/campaigns/?kind=rating&page=2").content.decode()
    assert "51–100 of 250" in html
    assert 'href="?kind=rating&amp;page=3"' in html and 'href="?kind=rating&amp;page=1"' in html
    assert 'aria-current="page" class="current">2<' in html
    names = re.findall(r">(campaign \d{4})</a>", html)
    assert len(names) == 50 and all(int(name.split()[1]) % 4 == 2 for name in names)  # rating: n % 4 == 2


def test_approver_queue_holds_only_decided_campaigns_awaiting_their_signoff(world, logged_in, users):
    decided = Campaign.objects.exclude(decision="").order_by("id")
    uploaded = decided[1]
    uploaded.candidate.created_by = users["approver"]  # they uploaded this candidate: another approver signs it
    uploaded.candidate.save()
    excluded = Campaign.objects.filter(candidate=uploaded.candidate).exclude(decision="").count()
    html = logged_in("approver").get("/signoff/").content.decode()
    # 200 decided, 20 of them already signed by this approver
    assert f"1–50 of {180 - excluded}" in html
    names = set(re.findall(r">(campaign \d{4})</a>", html))
    assert names and all(int(name.split()[1]) % 5 == 0 and int(name.split()[1]) % 50 for name in names)
    assert uploaded.name not in names
    home = logged_in("approver").get("/").content.decode()
    assert "All that await your sign-off" in home and len(re.findall(r">(campaign \d{4})</a>", home)) >= 5


def test_dataset_items_page_to_the_last_and_search(world, logged_in):
    client = logged_in("ds")
    last = client.get("/datasets/big/?page=200").content.decode()
    assert "9951–10000 of 10000" in last and "item-09999" in last and "item-09950" in last
    assert "item-09949" not in last
    found = client.get("/datasets/big/?search=item-0999&version=1").content.decode()
    assert "1–10 of 10" in found and "item-09990" in found
    assert "item-00001" not in client.get("/datasets/big/?page=2").content.decode()


def test_reviewer_home_pages_their_queue(world, logged_in):
    html = logged_in("reviewer").get("/?kind=labeling&page=5").content.decode()
    assert "201–250 of 250" in html and 'href="?kind=labeling&amp;page=4"' in html
    assert html.count("Start reviewing") + html.count("All done") + html.count("The gate decided") == 50


def test_a_repeated_page_or_page_size_is_refused_and_named_by_the_api_and_read_leniently_by_pages(world, logged_in):
    """QueryDict.get reads the last of repeated values: `?page=5.5e16&page=` answered page 1 with a 200 (found by
    the schema fuzz). The API refuses a repeated paging parameter and names it; a browser page keeps reading one."""
    client = logged_in("ds")
    for query, name in (
        ("page=2&page=3", "page"),
        ("page=5.5e16&page=", "page"),
        ("page_size=10&page_size=20", "page_size"),
    ):
        for url in ("/api/v1/campaigns/", "/api/v1/models/", "/api/v1/datasets/"):
            refused = client.get(f"{url}?{query}")
            body = refused.json()
            assert refused.status_code == 400 and body["code"] == "invalid", (url, query)
            assert name in body["extra"]["fields"] and body["message"].startswith(f"{name}: "), (url, query, body)
    assert client.get("/api/v1/campaigns/?page=2&page_size=10").status_code == 200  # once each is fine
    page = client.get("/campaigns/?page=2&page=3")
    assert page.status_code == 200 and "101–150 of 1000" in page.content.decode()  # a page reads the last
