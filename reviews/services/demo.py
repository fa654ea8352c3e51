"""The demo: real handwritten digits, three real classifiers, and one review campaign of each kind, loaded through
the services.

Everything goes through the same services the API calls, fed the same JSONL bytes an upload would carry:
dataset_create / dataset_version_ingest, registered_model_create / model_version_create / prediction_set_ingest,
campaign_create, then assignment_claim_next / judgment_submit for a first batch of honest judgments.

The data is scikit-learn's bundled copy of the UCI handwritten digits (no network). Three classifiers, three versions
of one model, are trained at load time on a fixed stratified split; their predictions on 60 held-out images are what
the experts review: pairwise (2.0.0 against 1.0.0), ranking (all three), rating (2.0.0 alone) and labeling (2.0.0's
answer as a suggestion), and a diff-first pairwise campaign (only the items where 2.0.0 and 1.0.0 differ).
1.0.0 is in production: the apps above reviews add what production brings (inspections: three weeks of production
logs, an inspection schedule and its judged runs) through add_demo_extension, as they add panels to the registry.
Idempotent: when the dataset "digits" exists, nothing is done.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any, Required, TypedDict

from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from core.errors import ConflictError
from core.models import User
from datasets.models import Dataset
from datasets.services.datasets import dataset_create, dataset_version_ingest
from models_app.models import ModelVersion, StageTransition
from models_app.services.predictions import prediction_set_ingest
from models_app.services.registry import model_version_create, registered_model_create
from reviews.models import Campaign, Judgment
from reviews.services.assignments import assignment_claim_next
from reviews.services.campaigns import campaign_create
from reviews.services.judgments import judgment_submit

if TYPE_CHECKING:  # types only: numpy, scikit-learn and PIL load when the demo is built, never with this module
    import numpy as np
    from _typeshed import SupportsWrite
    from numpy.typing import NDArray
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

DATASET_NAME = "digits"
MODEL_NAME = "digits-classifier"
BASELINE_VERSION = "1.0.0"  # Gaussian naive Bayes
MIDDLE_VERSION = "1.5.0"  # logistic regression: between the two in accuracy
CANDIDATE_VERSION = "2.0.0"  # calibrated SVC
DEMO_PASSWORD = "signoff-demo"
PROMPT = "Which digit is this?"
LABELS = [str(d) for d in range(10)]

RANDOM_STATE = 0
TEST_SIZE = 0.3
ITEM_COUNT = 60  # items in the demo dataset
MAX_HARD_SHARE = 0.5  # at most this share of the items are ones the candidate and the baseline disagree on
IMAGE_SIZE = 96  # the 8x8 digits are upscaled to IMAGE_SIZE x IMAGE_SIZE pixels
PRE_JUDGED = 10  # pairwise tasks ravi judges during the load, leaving the rest of the work to do
# Production traffic of 1.0.0 (the version in production) over the past weeks, oldest first: (logs, of which wrong).
# Held-out images the campaigns do not use; the last week's traffic brings harder scans, so its quality drops.
PRODUCTION_WEEKS = ((12, 1), (12, 1), (12, 6))

USERS = [
    # username, role, is_staff+is_superuser
    ("admin", User.Role.ADMIN, True),
    ("dana", User.Role.DATA_SCIENTIST, False),
    ("rita", User.Role.REVIEWER, False),
    ("ravi", User.Role.REVIEWER, False),
    ("alex", User.Role.APPROVER, False),
]

# Reviewers see these names (and the guidelines): no model names or versions in them.
PAIRWISE_NAME = "Digits: which reading is right?"
RANKING_NAME = "Digits: rank the three readings"
RATING_NAME = "Digits: rate the reading"
LABELING_NAME = "Digits: expert labels"
DIFF_FIRST_NAME = "Digits: which reading is right, where they differ?"

RATING_QUOTA = 30  # images each reviewer rates: with two reviewers and overlap 1, the 60 items are shared out
RATING_RUBRIC = [
    {"name": "correct", "scale": "pass_fail", "description": "The output names the digit in the image."},
    {
        "name": "clarity",
        "scale": "likert",
        "description": "How clearly the image shows the named digit (1 = cannot tell, 5 = unmistakable).",
    },
]

PAIRWISE_GUIDELINES = """\
## What you are judging

Each task shows one **handwritten digit** (an 8x8 scan from the UCI digits set, enlarged) and the answers of two
classifiers, **A** and **B**. Each answer is a single digit, `0` to `9`. Which model gave which answer is hidden and
drawn at random for every task, so do not look for a pattern.

## How to choose

1. Look at the image first and decide for yourself which digit it shows.
2. Then compare the two answers:
   - **A** or **B**: exactly one of the two answers names the digit in the image. Pick that one.
   - **Tie**: both answers name the right digit (they are then the same digit).
   - **Both bad**: neither answer names the digit in the image.
3. Judge only whether the digit is right. Ignore any confidence shown; a right answer given with low confidence
   is still right.

## When it is hard to tell

Some scans are blurred or written carelessly. Decide what a careful human reader would read. If you truly cannot
tell which digit it is, choose **Both bad** and say why in the rationale. A rationale is welcome whenever you hesitate.
"""

RANKING_GUIDELINES = """\
## What you are ranking

Each task shows one **handwritten digit** (an 8x8 scan from the UCI digits set, enlarged) and the readings of three
classifiers, **A**, **B** and **C**. Each reading is a single digit, `0` to `9`. Which model gave which reading is
hidden and drawn at random for every task, so do not look for a pattern.

## How to rank

1. Look at the image first and decide for yourself which digit it shows.
2. Put the readings in order, **best first**:
   - Readings that **name the same digit are tied**: they are equally good (or equally bad). Use **tie** (`t`) to
     group them.
   - **Right readings go above wrong ones.** Every reading that names the digit in the image comes first, tied.
   - Wrong readings go below, tied with each other: a wrong digit is wrong, however close it looks.
3. So there are only a few possible answers: all three tied (all right, or all the same wrong digit), or the right
   readings tied on top with the wrong ones below them.
4. Judge only whether the digit is right. Ignore any confidence shown.

## When it is hard to tell

Some scans are blurred or written carelessly. Decide what a careful human reader would read, and say why in the
comment whenever you hesitate. If you truly cannot tell which digit it is, **skip** the task with the reason
*Cannot decide*; if the scan is not a digit at all, **flag** it as bad data.
"""

RATING_GUIDELINES = f"""\
## What you are rating

Each task shows one **handwritten digit** (an 8x8 scan from the UCI digits set, enlarged) and **one classifier's
reading** of it: a single digit, `0` to `9`. Rate that reading on two criteria. Each of you rates up to
{RATING_QUOTA} images.

## The criteria

- **correct** (pass / fail): **pass** when the reading names the digit in the image, **fail** otherwise.
- **clarity** (1 to 5): how clearly the image shows the digit the reading names.
  - **5**: unmistakable; nobody would read it differently.
  - **4**: clear, with a small oddity (a stray stroke, an unusual shape).
  - **3**: readable with some effort.
  - **2**: it could just as well be read as another digit.
  - **1**: you cannot tell, or the image does not show the named digit at all. A reading that fails **correct**
    gets **1** here.

Look at the image first and decide for yourself which digit it shows, then read the output. Ignore any confidence
shown; rate the digit only.

## When it is hard to tell

Decide what a careful human reader would read, and say why in the comment whenever you hesitate. If you truly cannot
tell which digit it is, **skip** the task with the reason *Cannot decide*; if the scan is not a digit at all,
**flag** it as bad data.
"""

LABELING_GUIDELINES = """\
## What you are labeling

Each task shows one **handwritten digit** (an 8x8 scan from the UCI digits set, enlarged). Choose the **one label**,
`0` to `9`, that names the digit in the image.

## How to label

- Choose exactly one label: every image shows a single digit.
- The model's answer may be shown as a suggestion. Check it against the image; do not accept it without looking.
  The point of this campaign is to measure how often the model agrees with an expert.
- If a scan is ambiguous, choose the digit a careful human reader would most likely read, and explain in the rationale.
"""


class ItemRow(TypedDict):
    """One line of the dataset's JSONL upload."""

    id: str
    input: dict[str, str]  # the image (base64 PNG) and the prompt
    reference: str  # the true digit
    tags: list[str]


class PredictionRow(TypedDict):
    """One line of a prediction set's JSONL upload."""

    id: str
    output: str  # the digit the model read
    score: float  # the model's probability for it


class DemoSummary(TypedDict, total=False):
    """What demo_load did: only "created" when the demo was there already."""

    created: Required[bool]
    users: dict[str, str]  # username -> role
    created_users: list[str]
    dataset_version: dict[str, Any]  # dataset, number, items, sha256
    hard_items: int
    models: dict[str, str]  # version -> title
    wrong_on_items: dict[str, int]
    test_accuracy: dict[str, float]
    test_size: int
    campaigns: dict[str, dict[str, Any]]  # name -> id, kind, sampling, tasks
    judgments: dict[str, int]
    identical_items: int  # left out of the diff-first campaign
    extensions: list[str]  # what the extensions report


@dataclass(frozen=True)
class _Version:
    """One trained model version: what describes it, and its outputs on the chosen items."""

    version: str
    title: str  # for the report, e.g. "calibrated SVC"
    params: dict[str, Any]  # the registry's free-form JSON
    metrics: dict[str, float]
    rows: list[PredictionRow]
    wrong: int  # chosen items it gets wrong


@dataclass(frozen=True)
class ProductionLog:
    """One request the version in production (BASELINE_VERSION) answered: a held-out digit the campaigns do not show."""

    id: str
    week: int  # index into PRODUCTION_WEEKS
    input: dict[str, str]  # the image (base64 PNG) and the prompt, as the items carry them
    output: str  # the production version's reading
    truth: str  # the true digit: what an honest expert answers (never in the log itself)


@dataclass(frozen=True)
class _Trained:
    """What training produced: the chosen items, and each version's outputs on them."""

    rows: list[ItemRow]
    versions: dict[str, _Version]  # by version string, oldest first: baseline, middle, candidate
    hard: int  # items on which the candidate and the baseline disagree
    test_size: int  # held-out images each version's test accuracy is measured on
    production: list[ProductionLog]


@dataclass(frozen=True)
class DemoContext:
    """What a demo extension builds on: the demo's users, model versions (by version string) and production logs."""

    users: dict[str, User]
    versions: dict[str, ModelVersion]
    production: ModelVersion
    production_logs: list[ProductionLog]
    weeks_ago: Callable[[int], Any]  # n -> the start (a datetime) of the UTC week n weeks before this one


# An extension returns the lines it adds to the report. Apps above reviews register from their AppConfig.ready(),
# so the demo shows what they add without reviews importing them (tests/test_layering.py).
DemoExtension = Callable[[DemoContext], list[str]]
_extensions: list[DemoExtension] = []


def add_demo_extension(extension: DemoExtension) -> None:
    if extension not in _extensions:  # ready() may run twice in one process
        _extensions.append(extension)


def demo_load(*, stdout: SupportsWrite[str] | None = None) -> DemoSummary:
    """Load the demo once. Returns a summary; {"created": False} when the dataset already exists."""

    def say(message: str = "") -> None:
        if stdout is not None:
            stdout.write(message + "\n")

    if Dataset.objects.filter(name=DATASET_NAME).exists():
        say(f"The demo is already loaded (dataset {DATASET_NAME!r} exists); nothing to do.")
        return {"created": False}

    # Training touches no database, so it happens before the transaction opens (no write lock held meanwhile).
    trained = _train()

    saved_images: list[str] = []
    try:
        with transaction.atomic():
            summary = _load(trained, saved_images)
    except ConflictError as exc:
        _delete_files(saved_images)
        if exc.code == "dataset_exists":  # another demo load won the race
            say(f"The demo is already loaded (dataset {DATASET_NAME!r} exists); nothing to do.")
            return {"created": False}
        raise
    except BaseException:
        # The services save item images to storage as they go; a rolled-back transaction does not remove them.
        _delete_files(saved_images)
        raise

    _report(say, summary)
    return summary


# --- training --------------------------------------------------------------------------------------------------


def _train() -> _Trained:
    # lazy on purpose: sklearn loads only when the demo is built, never in a web or worker process (test_layering)
    import numpy as np
    import sklearn
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.naive_bayes import GaussianNB
    from sklearn.svm import SVC

    digits = load_digits()
    indices = np.arange(len(digits.target))
    x_train, x_test, y_train, y_test, _, test_indices = train_test_split(
        digits.data, digits.target, indices, test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=digits.target
    )

    # SVC(probability=True) is deprecated as of scikit-learn 1.9; calibrating the SVC is the documented replacement.
    candidate = CalibratedClassifierCV(SVC(gamma=0.001), ensemble=False).fit(x_train, y_train)
    middle = LogisticRegression(max_iter=2000).fit(x_train, y_train)  # lbfgs: deterministic, converges in ~200 steps
    baseline = GaussianNB().fit(x_train, y_train)

    split = {
        "data": "sklearn.datasets.load_digits (UCI ML handwritten digits, 8x8, 1797 images)",
        "split": f"stratified train_test_split, test_size={TEST_SIZE}, random_state={RANDOM_STATE}",
        "train_size": len(y_train),
        "sklearn_version": sklearn.__version__,
    }
    params = _hyperparameters(baseline=baseline, middle=middle, candidate=candidate, split=split)
    titles = {
        BASELINE_VERSION: "Gaussian naive Bayes",
        MIDDLE_VERSION: "logistic regression",
        CANDIDATE_VERSION: "calibrated SVC",
    }
    fitted = {BASELINE_VERSION: baseline, MIDDLE_VERSION: middle, CANDIDATE_VERSION: candidate}
    proba = {version: model.predict_proba(x_test) for version, model in fitted.items()}
    pred = {version: fitted[version].classes_[p.argmax(axis=1)] for version, p in proba.items()}

    chosen, disagree = _chosen_positions(y_test, pred)

    rows: list[ItemRow] = []
    outputs: dict[str, list[PredictionRow]] = {version: [] for version in fitted}
    for p in chosen:
        item_id = f"digit-{int(test_indices[p]):04d}"
        truth = str(int(y_test[p]))
        # the digit tag comes first: the ranking campaign's stratified sampling goes by the first tag
        tags = [f"digit-{truth}"] + (["hard"] if disagree[p] else [])
        rows.append(
            {
                "id": item_id,
                "input": {"image": _png_base64(digits.images[test_indices[p]]), "prompt": PROMPT},
                "reference": truth,
                "tags": tags,
            }
        )
        for version in fitted:
            outputs[version].append(
                {"id": item_id, "output": str(int(pred[version][p])), "score": round(float(proba[version][p].max()), 4)}
            )

    production = _production_logs(digits, y_test, test_indices, pred[BASELINE_VERSION], set(chosen))
    versions = {
        version: _Version(
            version=version,
            title=titles[version],
            params=params[version],
            metrics={"test_accuracy": round(float((pred[version] == y_test).mean()), 4), "test_size": len(y_test)},
            rows=outputs[version],
            wrong=int(sum(bool(pred[version][p] != y_test[p]) for p in chosen)),
        )
        for version in (BASELINE_VERSION, MIDDLE_VERSION, CANDIDATE_VERSION)
    }
    return _Trained(
        rows=rows,
        versions=versions,
        hard=int(sum(bool(disagree[p]) for p in chosen)),
        test_size=len(y_test),
        production=production,
    )


def _production_logs(
    digits: Any, y_test: NDArray[np.int_], test_indices: NDArray[np.int_], read: NDArray[np.int_], chosen: set[int]
) -> list[ProductionLog]:
    """Each week's traffic: held-out images outside the campaigns, in test order (no randomness: the same logs every
    time), as many read wrong by the production version as PRODUCTION_WEEKS says."""
    unused = [p for p in range(len(y_test)) if p not in chosen]
    right = iter(p for p in unused if read[p] == y_test[p])
    wrong = iter(p for p in unused if read[p] != y_test[p])
    logs: list[ProductionLog] = []
    for week, (count, wrong_count) in enumerate(PRODUCTION_WEEKS):
        # wrong readings spread through the week rather than bunched at its start
        picks = [
            next(wrong) if i * wrong_count // count != (i + 1) * wrong_count // count else next(right)
            for i in range(count)
        ]
        logs += [
            ProductionLog(
                id=f"request-{week}-{i:02d}",
                week=week,
                input={"image": _png_base64(digits.images[test_indices[p]]), "prompt": PROMPT},
                output=str(int(read[p])),
                truth=str(int(y_test[p])),
            )
            for i, p in enumerate(picks)
        ]
    return logs


def _hyperparameters(
    *,
    baseline: GaussianNB,
    middle: LogisticRegression,
    candidate: CalibratedClassifierCV,
    split: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """What each demo model version records about how it was trained (its registry params)."""
    svc = candidate.estimator.get_params()
    logistic = middle.get_params()
    return {
        BASELINE_VERSION: {
            "model_class": "sklearn.naive_bayes.GaussianNB",
            "hyperparameters": {"var_smoothing": baseline.get_params()["var_smoothing"]},
            **split,
        },
        MIDDLE_VERSION: {
            "model_class": "sklearn.linear_model.LogisticRegression",
            "hyperparameters": {
                "solver": logistic["solver"],
                "C": logistic["C"],
                "max_iter": logistic["max_iter"],
                "tol": logistic["tol"],
                "iterations_run": int(middle.n_iter_.max()),
            },
            **split,
        },
        CANDIDATE_VERSION: {
            "model_class": "sklearn.calibration.CalibratedClassifierCV",
            "estimator": "sklearn.svm.SVC",
            "hyperparameters": {
                "kernel": svc["kernel"],
                "gamma": svc["gamma"],
                "C": svc["C"],
                "calibration_method": candidate.method,
                "calibration_cv": 5 if candidate.cv is None else candidate.cv,
                "ensemble": candidate.ensemble,
            },
            **split,
        },
    }


def _chosen_positions(
    y_test: NDArray[np.int_], pred: dict[str, NDArray[np.int_]]
) -> tuple[list[int], NDArray[np.bool_]]:
    """The test positions the demo shows, in review order, and which of all positions the candidate and the
    baseline disagree on.

    The candidate's mistakes and the candidate/baseline disagreements come first (up to MAX_HARD_SHARE of the items),
    then items both get right. The middle version plays no part in the choice, and the seed is fixed: the same bytes
    (and the same sha256) every time."""
    import numpy as np

    rng = np.random.default_rng(RANDOM_STATE)
    positions = rng.permutation(len(y_test))
    candidate_wrong = pred[CANDIDATE_VERSION] != y_test
    disagree = pred[CANDIDATE_VERSION] != pred[BASELINE_VERSION]
    max_hard = int(ITEM_COUNT * MAX_HARD_SHARE)
    first = [p for p in positions if candidate_wrong[p]] + [
        p for p in positions if disagree[p] and not candidate_wrong[p]
    ]
    chosen = first[:max_hard]
    taken = set(chosen)
    rest = [p for p in positions if p not in taken]
    chosen += rest[: ITEM_COUNT - len(chosen)]
    return [chosen[i] for i in rng.permutation(len(chosen))], disagree  # hard and easy items mixed


def _png_base64(image: NDArray[np.float64]) -> str:
    """An 8x8 digit (0 = blank .. 16 = full ink) as a base64 PNG: dark ink on white, enlarged without smoothing."""
    # lazy on purpose, as in _train: only the demo draws digits
    import numpy as np
    from PIL import Image

    gray = (255 - np.rint(np.asarray(image, dtype=float) * (255 / 16))).clip(0, 255).astype(np.uint8)
    enlarged = Image.fromarray(gray).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    enlarged.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _jsonl_file(rows: list[ItemRow] | list[PredictionRow], name: str) -> ContentFile[bytes]:
    return ContentFile(b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows), name=name)


# --- loading ----------------------------------------------------------------------------------------------------


def _users() -> tuple[dict[str, User], list[str]]:
    """The demo users; created ones get the demo password, existing ones are left exactly as they are."""
    users: dict[str, User] = {}
    created: list[str] = []
    # One hash (one salt) for every demo user: PBKDF2 is slow on purpose, and five of them were a good share of the
    # first `make run`; the password is printed on the console anyway. Each login checks the hash as usual.
    password_hash: str | None = None
    for username, role, superuser in USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            password_hash = password_hash or make_password(DEMO_PASSWORD)
            user = User(
                username=username, role=role, is_staff=superuser, is_superuser=superuser, password=password_hash
            )
            user.save()
            created.append(username)
        users[username] = user
    return users, created


def _load(trained: _Trained, saved_images: list[str]) -> DemoSummary:
    users, created_users = _users()
    dana = users["dana"]

    dataset = dataset_create(
        name=DATASET_NAME,
        created_by=dana,
        description="Handwritten digits (UCI, via scikit-learn's load_digits): held-out 8x8 scans, enlarged to "
        f"{IMAGE_SIZE}x{IMAGE_SIZE}. Reference = the true digit; first tag = digit-N, the true digit; "
        f"tag 'hard' = {MODEL_NAME} {BASELINE_VERSION} and {CANDIDATE_VERSION} disagree.",
    )
    version, _ = dataset_version_ingest(
        dataset=dataset, file=_jsonl_file(trained.rows, "digits.jsonl"), source_name="digits.jsonl", created_by=dana
    )
    saved_images.extend(name for name in version.items.values_list("image", flat=True) if name)

    model = registered_model_create(
        name=MODEL_NAME,
        created_by=dana,
        description="Classifies 8x8 handwritten digits (scikit-learn, trained by the demo loader).",
    )
    model_versions: dict[str, ModelVersion] = {}
    for number, v in trained.versions.items():  # oldest first
        model_version = model_version_create(
            model=model, version=number, created_by=dana, params=v.params, metrics=v.metrics
        )
        name = f"{MODEL_NAME}-{number}.jsonl"
        prediction_set_ingest(
            model_version=model_version,
            dataset_version=version,
            file=_jsonl_file(v.rows, name),
            source_name=name,
            created_by=dana,
        )
        model_versions[number] = model_version
    baseline, middle, candidate = (model_versions[n] for n in (BASELINE_VERSION, MIDDLE_VERSION, CANDIDATE_VERSION))

    reviewers = [users["rita"], users["ravi"]]
    pairwise = campaign_create(
        name=PAIRWISE_NAME,
        kind=Campaign.Kind.PAIRWISE,
        candidate=candidate,
        baseline=baseline,
        overlap=2,
        sampling=Campaign.Sampling.DISAGREEMENT,
        gate={"min_judgments": 20, "min_win_rate": 0.5},
        guidelines=PAIRWISE_GUIDELINES,
        dataset_version=version,
        reviewers=reviewers,
        created_by=dana,
    )
    ranking = campaign_create(
        name=RANKING_NAME,
        kind=Campaign.Kind.RANKING,
        candidate=candidate,
        baseline=baseline,
        others=[middle],
        overlap=1,
        sampling=Campaign.Sampling.STRATIFIED,
        gate={"min_judgments": 20, "min_win_rate": 0.5},
        guidelines=RANKING_GUIDELINES,
        dataset_version=version,
        reviewers=reviewers,
        created_by=dana,
    )
    rating = campaign_create(
        name=RATING_NAME,
        kind=Campaign.Kind.RATING,
        candidate=candidate,
        rubric=RATING_RUBRIC,
        overlap=1,
        quota_per_reviewer=RATING_QUOTA,
        gate={"min_judgments": 20, "min_win_rate": 0.8},
        guidelines=RATING_GUIDELINES,
        dataset_version=version,
        reviewers=reviewers,
        created_by=dana,
    )
    labeling = campaign_create(
        name=LABELING_NAME,
        kind=Campaign.Kind.LABELING,
        candidate=candidate,
        labels=LABELS,
        overlap=1,
        gate={"min_judgments": 20, "min_win_rate": 0.8},
        guidelines=LABELING_GUIDELINES,
        dataset_version=version,
        reviewers=reviewers,
        created_by=dana,
    )
    diff_first = campaign_create(
        name=DIFF_FIRST_NAME,
        kind=Campaign.Kind.PAIRWISE,
        candidate=candidate,
        baseline=baseline,
        items=Campaign.Items.CHANGED,  # identical readings are left out and counted as ties in the results
        overlap=1,
        gate={"min_judgments": 10, "min_win_rate": 0.5},
        guidelines=PAIRWISE_GUIDELINES,
        dataset_version=version,
        reviewers=reviewers,
        created_by=dana,
    )
    judged = _judge_honestly(pairwise, users["ravi"], PRE_JUDGED, candidate=candidate, baseline=baseline)
    _ship(baseline, dana)
    context = DemoContext(
        users=users,
        versions=model_versions,
        production=baseline,
        production_logs=trained.production,
        weeks_ago=_weeks_ago,
    )
    extended = [line for extension in _extensions for line in extension(context)]

    return {
        "created": True,
        "users": {username: user.role for username, user in users.items()},  # existing users keep their own role
        "created_users": created_users,
        "dataset_version": {
            "dataset": DATASET_NAME,
            "number": version.number,
            "items": version.item_count,
            "sha256": version.sha256,
        },
        "hard_items": trained.hard,
        "models": {number: v.title for number, v in trained.versions.items()},
        "wrong_on_items": {number: v.wrong for number, v in trained.versions.items()},
        "test_accuracy": {number: v.metrics["test_accuracy"] for number, v in trained.versions.items()},
        "test_size": trained.test_size,
        "campaigns": {
            campaign.name: {
                "id": campaign.pk,
                "kind": campaign.kind,
                "sampling": campaign.sampling,
                "tasks": campaign.tasks.count(),
            }
            for campaign in (pairwise, ranking, rating, labeling, diff_first)
        },
        "judgments": judged,
        "identical_items": diff_first.identical_items,
        "extensions": extended,
    }


def _ship(version: ModelVersion, actor: User) -> None:
    """The demo's history: 1.0.0 went to production before its team reviewed in Signoff, so no verdict of this app
    stands behind it. Written as that history (a recorded transition, manual, with its reason) rather than through
    model_version_set_stage, which rightly refuses to move a candidate without a signed verdict."""
    reason = "In production before reviews moved to Signoff (demo history)."
    StageTransition.objects.create(
        model_version=version,
        from_stage=version.stage,
        to_stage=ModelVersion.Stage.PRODUCTION,
        actor=actor,
        reason=reason,
        cause="manual",
    )
    version.stage = ModelVersion.Stage.PRODUCTION
    version.save(update_fields=["stage", "updated_at"])


def _weeks_ago(weeks: int) -> Any:
    """Monday 00:00 UTC, `weeks` weeks before this week's: past periods that stay whole weeks whenever the demo loads."""
    now = timezone.now().astimezone(UTC)
    monday = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=now.weekday())
    return monday - timedelta(weeks=weeks)


def _judge_honestly(
    campaign: Campaign, reviewer: User, count: int, *, candidate: ModelVersion, baseline: ModelVersion
) -> dict[str, int]:
    """Judge `count` pairwise tasks as a careful expert would: by comparing each output with the true digit."""
    tally: dict[str, int] = {}
    for _ in range(count):
        assignment = assignment_claim_next(campaign=campaign, reviewer=reviewer)
        if assignment is None:
            break
        task = assignment.task
        truth = str(task.item.reference)
        outputs = dict(task.outputs.values_list("model_version_id", "prediction__output"))
        candidate_right = str(outputs[candidate.pk]) == truth
        baseline_right = str(outputs[baseline.pk]) == truth
        other_slot = "B" if assignment.candidate_slot == "A" else "A"
        choice: str
        if candidate_right and baseline_right:
            choice = Judgment.Choice.TIE
        elif candidate_right:
            choice = assignment.candidate_slot
        elif baseline_right:
            choice = other_slot
        else:
            choice = Judgment.Choice.BOTH_BAD
        judgment_submit(
            task_id=task.pk,
            reviewer=reviewer,
            choice=str(choice),
            rationale=f"Demo judgment, made by the demo loader by comparing both outputs with the true digit ({truth}).",
        )
        key = {"tie": "tie", "both_bad": "both_bad"}.get(
            str(choice), "candidate" if choice == assignment.candidate_slot else "baseline"
        )
        tally[key] = tally.get(key, 0) + 1
    return tally


def _delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def _report(say: Callable[[str], None], summary: DemoSummary) -> None:
    acc, wrong, dataset = summary["test_accuracy"], summary["wrong_on_items"], summary["dataset_version"]
    say(
        f"Dataset {DATASET_NAME} v{dataset['number']}: {dataset['items']} digit images, {summary['hard_items']} on which "
        f"{BASELINE_VERSION} and {CANDIDATE_VERSION} disagree (tagged 'hard')."
    )
    say(f"Model {MODEL_NAME}, test accuracy on {summary['test_size']} held-out images (wrong on the demo items):")
    for number in sorted(acc, key=lambda number: acc[number], reverse=True):
        say(f"  {number}  {summary['models'][number]:<21} {acc[number]:.4f}  ({wrong[number]} of {dataset['items']})")
    say(f"  {BASELINE_VERSION} is in production; the others are candidates.")
    for name, info in summary["campaigns"].items():
        say(f"Campaign #{info['id']} {name!r}: {info['kind']}, {info['tasks']} tasks, {info['sampling']} sampling.")
    say(
        f"  {DIFF_FIRST_NAME!r} reviews only the items where the two readings differ: "
        f"{summary['identical_items']} identical ones are left out."
    )
    done = sum(summary["judgments"].values())
    say(
        f"ravi has judged {done} pairwise tasks ({', '.join(f'{k}: {v}' for k, v in sorted(summary['judgments'].items()))}); "
        "the rest is waiting for rita and ravi."
    )
    for line in summary["extensions"]:
        say(line)
    say("")
    say("Logins:")
    for username, role in summary["users"].items():
        password = DEMO_PASSWORD if username in summary["created_users"] else "(existing user, password unchanged)"
        say(f"  {username:<6} {role:<15} {password}")
