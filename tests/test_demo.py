"""`manage.py demo`: real digits, three trained versions, a campaign of each kind with work left, and idempotent;
and what `make run` needs to reach its first page quickly (one process for migrate and demo, a light web start)."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from core.models import User
from datasets.models import Dataset, DatasetVersion, Item
from inspections.models import InspectionSchedule, LogBatch, ProductionLog
from inspections.selectors import inspection_trend
from models_app.models import ModelVersion, Prediction, PredictionSet, RegisteredModel, StageTransition
from reviews.models import Assignment, Campaign, Judgment, Task
from reviews.services import demo
from reviews.services.assignments import assignment_claim_next
from reviews.services.demo import DEMO_PASSWORD

BASE_DIR = Path(__file__).resolve().parent.parent
# What the embedded default reads from the environment: dropped, so a subprocess gets `make run`'s own settings.
EMBEDDED_UNSET = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "SIGNOFF_BROKER_DIR")


def embedded_environment(var_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in EMBEDDED_UNSET}
    return {**env, "SIGNOFF_VAR_DIR": str(var_dir), "OPENBLAS_NUM_THREADS": "1"}


COUNTED = [
    User,
    Dataset,
    DatasetVersion,
    Item,
    RegisteredModel,
    ModelVersion,
    StageTransition,
    PredictionSet,
    Prediction,
    Campaign,
    Task,
    Assignment,
    Judgment,
    ProductionLog,
    InspectionSchedule,
]


def counts() -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in COUNTED}


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def run_demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_loads_users_data_models_and_campaigns_once():
    output = run_demo()
    assert "Logins:" in output

    # one user per role, each able to log in with the demo password
    expected = {
        "admin": User.Role.ADMIN,
        "dana": User.Role.DATA_SCIENTIST,
        "rita": User.Role.REVIEWER,
        "ravi": User.Role.REVIEWER,
        "alex": User.Role.APPROVER,
    }
    for username, role in expected.items():
        user = User.objects.get(username=username)
        assert user.role == role
        assert user.check_password(DEMO_PASSWORD)
        assert authenticate(username=username, password=DEMO_PASSWORD) == user
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser

    # the dataset: real digit images with their true labels
    version = DatasetVersion.objects.get(dataset__name="digits")
    items = list(version.items.all())
    assert 50 <= len(items) == version.item_count
    for item in items:
        assert item.external_id.startswith("digit-")
        assert item.input == {"prompt": "Which digit is this?"}
        assert item.reference in [str(d) for d in range(10)]
        assert f"digit-{item.reference}" in item.tags
        assert item.image
        with item.image.open("rb") as f, Image.open(f) as image:
            assert image.format == "PNG"
            assert image.size == (96, 96)
    assert any("hard" in item.tags for item in items)

    # three versions of one model have predictions on it, more accurate with each version; the oldest, 1.0.0, is in
    # production (one recorded transition, the demo's history), the others are candidates
    versions = {mv.version: mv for mv in ModelVersion.objects.filter(model__name="digits-classifier")}
    assert set(versions) == {"1.0.0", "1.5.0", "2.0.0"}
    baseline, middle, candidate = versions["1.0.0"], versions["1.5.0"], versions["2.0.0"]
    for mv in (baseline, middle, candidate):
        prediction_set = PredictionSet.objects.get(model_version=mv, dataset_version=version)
        assert prediction_set.prediction_count == len(items) == prediction_set.predictions.count()
        assert mv.stage == (ModelVersion.Stage.PRODUCTION if mv == baseline else ModelVersion.Stage.CANDIDATE)
        assert mv.git_sha == "" and mv.artifact_uri == ""
        assert mv.params["model_class"].startswith("sklearn.")
        assert mv.metrics["test_size"] > len(items)
        assert (
            f"{mv.version} " in output and f"{mv.metrics['test_accuracy']:.4f}" in output
        )  # the report gives all three
    assert middle.params["model_class"] == "sklearn.linear_model.LogisticRegression"
    assert candidate.metrics["test_accuracy"] > middle.metrics["test_accuracy"] > baseline.metrics["test_accuracy"]
    assert candidate.metrics["test_accuracy"] > 0.95
    shipped = StageTransition.objects.get()
    assert (shipped.model_version, shipped.to_stage, shipped.cause) == (baseline, "production", "manual")
    # the candidate and the baseline disagree on the items tagged hard, and only there
    outputs = {
        mv.pk: dict(
            Prediction.objects.filter(prediction_set__model_version=mv).values_list("item__external_id", "output")
        )
        for mv in (baseline, middle, candidate)
    }
    for item in items:
        disagree = outputs[baseline.pk][item.external_id] != outputs[candidate.pk][item.external_id]
        assert disagree == ("hard" in item.tags)
        assert item.tags[0] == f"digit-{item.reference}"  # the first tag is what stratified sampling goes by

    # one campaign of each kind, with a task per item showing the right outputs
    pairwise = Campaign.objects.get(name="Digits: which reading is right?")
    ranking = Campaign.objects.get(name="Digits: rank the three readings")
    rating = Campaign.objects.get(name="Digits: rate the reading")
    labeling = Campaign.objects.get(name="Digits: expert labels")
    campaigns = {
        pairwise: [candidate, baseline],
        ranking: [candidate, baseline, middle],
        rating: [candidate],
        labeling: [candidate],
    }
    assert Campaign.objects.filter(name__startswith="Digits:").count() == 5  # and the diff-first one (below)
    assert (pairwise.kind, pairwise.candidate, pairwise.baseline, pairwise.overlap, pairwise.sampling) == (
        Campaign.Kind.PAIRWISE,
        candidate,
        baseline,
        2,
        Campaign.Sampling.DISAGREEMENT,
    )
    assert (ranking.kind, ranking.candidate, ranking.baseline, ranking.overlap, ranking.sampling) == (
        Campaign.Kind.RANKING,
        candidate,
        baseline,
        1,
        Campaign.Sampling.STRATIFIED,
    )
    assert list(ranking.others.all()) == [middle]
    assert {"min_judgments": 20, "min_win_rate": 0.5}.items() <= ranking.gate_policy.items()
    assert (rating.kind, rating.candidate, rating.baseline, rating.overlap, rating.quota_per_reviewer) == (
        Campaign.Kind.RATING,
        candidate,
        None,
        1,
        30,
    )
    assert [(c["name"], c["scale"]) for c in rating.rubric] == [("correct", "pass_fail"), ("clarity", "likert")]
    assert all(c["description"] for c in rating.rubric)
    assert {"min_judgments": 20, "min_win_rate": 0.8}.items() <= rating.gate_policy.items()
    assert (labeling.kind, labeling.candidate, labeling.baseline, labeling.overlap) == (
        Campaign.Kind.LABELING,
        candidate,
        None,
        1,
    )
    assert labeling.labels == [str(d) for d in range(10)] and not labeling.multi_label and labeling.show_suggestion
    for campaign, shown in campaigns.items():
        assert campaign.tasks.count() == len(items) == 60
        assert f"{campaign.name!r}: {campaign.kind}, 60 tasks" in output
        assert {u.username for u in campaign.reviewers.all()} == {"rita", "ravi"}
        assert campaign.created_by.username == "dana"
        assert campaign.guidelines.strip()
        # reviewers see the name and the guidelines: neither may give the models away
        for text in (campaign.name, campaign.guidelines):
            for secret in ("1.0.0", "1.5.0", "2.0.0", "digits-classifier", "SVC", "Bayes", "logistic"):
                assert secret.lower() not in text.lower(), (campaign.name, secret)
        for task in campaign.tasks.prefetch_related("outputs"):
            task_outputs = list(task.outputs.all())
            assert len(task_outputs) == len(shown)
            assert {o.model_version_id for o in task_outputs} == {mv.pk for mv in shown}
    # disagreement sampling: the items whose two outputs differ (the hard ones) are handed out first
    assert {t.item.external_id for t in pairwise.tasks.filter(priority=0)} == {
        i.external_id for i in items if "hard" in i.tags
    }
    assert not pairwise.tasks.filter(priority__lt=0).exists()  # ravi is the only one who judged: nobody disagrees

    judgments = Judgment.objects.filter(task__campaign=pairwise)
    assert 0 < judgments.count() < len(items)
    assert set(judgments.values_list("reviewer__username", flat=True)) == {"ravi"}
    assert not Judgment.objects.filter(task__campaign__in=campaigns).exclude(task__campaign=pairwise).exists()
    assert all("hard" in j.task.item.tags for j in judgments)  # disagreements first
    rita = User.objects.get(username="rita")
    for campaign in campaigns:
        assignment = assignment_claim_next(campaign=campaign, reviewer=rita)
        assert assignment is not None, campaign.name
        assert len(assignment.slot_order) == len(campaigns[campaign])

    # a diff-first pairwise campaign: only the items where the two readings differ (the hard ones)
    diff_first = Campaign.objects.get(name="Digits: which reading is right, where they differ?")
    hard = {i.external_id for i in items if "hard" in i.tags}
    assert (diff_first.kind, diff_first.items, diff_first.candidate, diff_first.baseline) == (
        Campaign.Kind.PAIRWISE,
        Campaign.Items.CHANGED,
        candidate,
        baseline,
    )
    assert {t.item.external_id for t in diff_first.tasks.all()} == hard
    assert diff_first.identical_items == len(items) - len(hard) > 0
    assert f"{diff_first.identical_items} identical ones are left out" in output
    assert {u.username for u in diff_first.reviewers.all()} == {"rita", "ravi"}

    # production: three past weeks of 1.0.0's logs, a weekly inspection judged in full, the last week alerted
    logs = ProductionLog.objects.filter(model_version=baseline)
    assert logs.count() == sum(n for n, _ in demo.PRODUCTION_WEEKS) and LogBatch.objects.count() == 1
    assert not logs.filter(external_id__in=[i.external_id for i in items]).exists()  # not the campaigns' images
    schedule = InspectionSchedule.objects.get()
    assert (schedule.model, schedule.version, schedule.kind, schedule.floor) == (baseline.model, None, "labeling", 0.8)
    runs = list(schedule.runs.order_by("period_start"))
    assert len(runs) == len(demo.PRODUCTION_WEEKS) and all(r.period_end <= timezone.now() for r in runs)
    assert [r.logs_in_period for r in runs] == [n for n, _ in demo.PRODUCTION_WEEKS] == [r.tasks for r in runs]
    trend = inspection_trend(schedule=schedule)
    assert all(point["finished"] for point in trend)
    # the expert's labels are the true digits: each week's quality is the share 1.0.0 read right, and it drops
    assert [round(point["estimate"], 3) for point in trend] == [round(1 - w / n, 3) for n, w in demo.PRODUCTION_WEEKS]
    assert [bool(r.alert) for r in runs] == [False, False, True]
    assert "below the floor 0.800" in output and f"/inspections/{schedule.pk}/" in output
    assert set(
        Judgment.objects.filter(task__campaign__in=[r.campaign for r in runs]).values_list(
            "reviewer__username", flat=True
        )
    ) == {"ravi"}

    # a second run creates nothing
    before = counts()
    second = run_demo()
    assert "already loaded" in second
    assert counts() == before


@pytest.mark.django_db
def test_demo_dataset_bytes_are_the_same_on_every_run():
    """Training again gives the same items, byte for byte: the dataset's sha256 does not depend on the run."""
    import hashlib

    from reviews.services.demo import _jsonl_file, _train

    run_demo()
    version = DatasetVersion.objects.get(dataset__name="digits")
    retrained = _train()
    assert hashlib.sha256(_jsonl_file(retrained.rows, "digits.jsonl").read()).hexdigest() == version.sha256
    # and the predictions uploaded are the ones training gives again
    for number, trained_version in retrained.versions.items():
        uploaded = dict(
            Prediction.objects.filter(
                prediction_set__model_version__version=number, prediction_set__dataset_version=version
            ).values_list("item__external_id", "output")
        )
        assert uploaded == {row["id"]: row["output"] for row in trained_version.rows}
    # and the production logs are the ones training gives again
    stored = {log.external_id: (log.input, log.output) for log in ProductionLog.objects.all()}
    assert stored == {log.id: (log.input, log.output) for log in retrained.production}


@pytest.mark.django_db
def test_demo_keeps_existing_users_as_they_are():
    User.objects.create_user(username="rita", password="her-own-password", role=User.Role.REVIEWER)
    output = run_demo()
    rita = User.objects.get(username="rita")
    assert rita.check_password("her-own-password")
    assert not rita.check_password(DEMO_PASSWORD)
    assert "password unchanged" in output


@pytest.mark.django_db
def test_demo_that_fails_midway_keeps_nothing(settings):
    from pathlib import Path

    from django.core.management.base import CommandError

    # an existing "rita" who is not a reviewer: campaign_create refuses her, after the dataset and models were made
    User.objects.create_user(username="rita", password="x", role=User.Role.APPROVER)
    with pytest.raises(CommandError, match="not reviewers: rita"):
        run_demo()
    assert not Dataset.objects.filter(name="digits").exists()
    assert not RegisteredModel.objects.filter(name="digits-classifier").exists()
    assert not Campaign.objects.filter(name__startswith="Digits:").exists()
    assert list(
        User.objects.filter(username__in=["admin", "dana", "rita", "ravi", "alex"]).values_list("username", flat=True)
    ) == ["rita"]
    media = Path(settings.MEDIA_ROOT)
    assert not [p for p in media.rglob("*") if p.is_file()]


@pytest.mark.django_db
def test_demo_hashes_the_demo_password_once_for_all_its_users(monkeypatch):
    """PBKDF2 is slow on purpose and the first start pays for each hash: five users share one, and each logs in."""
    calls = []

    def counting_make_password(password, *args, **kwargs):
        calls.append(password)
        return make_password(password, *args, **kwargs)

    monkeypatch.setattr(demo, "make_password", counting_make_password)
    run_demo()
    assert calls == [DEMO_PASSWORD]
    for username in ("admin", "dana", "rita", "ravi", "alex"):
        assert authenticate(username=username, password=DEMO_PASSWORD) == User.objects.get(username=username)
        assert authenticate(username=username, password=DEMO_PASSWORD + "x") is None


# `make run`'s own SQLite in tmp_path and its broker folder, whatever this run uses (embedded_environment)
@pytest.mark.db_agnostic
def test_demo_migrate_builds_an_empty_database_and_loads_the_demo_in_one_process(tmp_path):
    """`make run`'s first step on a fresh machine: no database file yet, one command migrates it and loads the demo;
    run again, it applies nothing and loads nothing."""
    command = [sys.executable, "manage.py", "demo", "--migrate"]
    env = embedded_environment(tmp_path)
    first = subprocess.run(command, check=False, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Applying reviews.0001_initial... OK" in first.stdout
    assert "Logins:" in first.stdout and "alex   approver        signoff-demo" in first.stdout
    assert (tmp_path / "signoff.sqlite3").exists()

    again = subprocess.run(command, check=False, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "No migrations to apply." in again.stdout
    assert "The demo is already loaded" in again.stdout


# `make run`'s own settings (embedded_environment), whatever this run uses
@pytest.mark.db_agnostic
def test_the_web_app_loads_its_urls_at_import_without_scipy_stats_sklearn_or_a_database_connection(tmp_path):
    """What gunicorn --preload (bin/serve-embedded) imports in its master before forking the workers: the app and its
    URLconf, so no worker imports them again; not scipy.stats or scikit-learn, which cost every process seconds at
    start; and no open database connection, which the forked workers would share."""
    probe = (
        "import sys, config.wsgi; from django.db import connections; "
        "print(sorted(m for m in sys.modules if m == 'config.urls' or m.startswith(('scipy.stats', 'sklearn')))); "
        "print([alias for alias in connections if connections[alias].connection is not None])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        check=False,
        cwd=BASE_DIR,
        env=embedded_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['config.urls']", "[]"]
