"""Versions of one model side by side: params, metrics, the campaigns they were in with their figures, verdicts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from core.models import User
from models_app.models import ModelVersion, RegisteredModel
from models_app.selectors import registered_model_get
from reviews.models import Campaign
from reviews.results_cache import campaign_results_kept_many
from reviews.selectors import campaigns_visible_to

MAX_VERSIONS = 8  # columns that still read side by side
MAX_CAMPAIGNS = 50  # the newest; older ones are on each campaign's page
COMPUTE_PER_VIEW = 4  # results not in the cache computed by one view, so the page's queries stay bounded

FIGURE_LABELS = {"pairwise": "win rate", "labeling": "agreement with experts", "rating": "pass rate"}


@dataclass
class ValueRow:
    """One param or metric across the versions; `differs` when not every version has the same value."""

    name: str
    cells: list[dict[str, Any]]
    differs: bool


@dataclass
class CampaignRow:
    campaign: Campaign
    label: str
    cells: list[dict[str, Any] | None]
    results_at: datetime | None
    verdict: Any = None


@dataclass
class Comparison:
    model: RegisteredModel
    all_versions: list[ModelVersion]
    versions: list[ModelVersion] = field(default_factory=list)
    params: list[ValueRow] = field(default_factory=list)
    metrics: list[ValueRow] = field(default_factory=list)
    campaigns: list[CampaignRow] = field(default_factory=list)
    campaigns_capped: bool = False
    verdicts: list[list[Campaign]] = field(default_factory=list)
    problem: str | None = None


def model_versions_comparison(*, model_name: str, versions: list[str], user: User) -> Comparison:
    """The chosen versions (oldest first: the first is the reference the others differ from), with the campaigns
    `user` may see that any of them was in. With fewer than two (or too many) chosen, only `problem` and the
    versions to pick from."""
    model = registered_model_get(name=model_name)
    all_versions = list(model.versions.select_related("created_by").order_by("created_at", "pk"))
    wanted = set(versions)
    chosen = [v for v in all_versions if v.version in wanted]
    comparison = Comparison(model=model, all_versions=all_versions, versions=chosen)
    if len(chosen) < 2:
        comparison.problem = "Pick two or more versions to compare."
        return comparison
    if len(chosen) > MAX_VERSIONS:
        comparison.problem = f"Pick at most {MAX_VERSIONS} versions to compare."
        return comparison
    comparison.params = _value_rows([v.params or {} for v in chosen], numeric_deltas=False)
    comparison.metrics = _value_rows([v.metrics or {} for v in chosen], numeric_deltas=True)
    comparison.campaigns, comparison.campaigns_capped = _campaign_rows(chosen, user)
    comparison.verdicts = [
        [row.campaign for row in comparison.campaigns if row.verdict and row.campaign.candidate_id == v.pk]
        for v in chosen
    ]
    return comparison


def _display(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _value_rows(values: list[dict[str, Any]], *, numeric_deltas: bool) -> list[ValueRow]:
    """Every key any version has, in order; a numeric metric also shows its difference from the first version."""
    names = sorted({name for each in values for name in each})
    rows = []
    for name in names:
        reference = values[0].get(name)
        cells = []
        for each in values:
            value = each.get(name)
            cell: dict[str, Any] = {"present": name in each, "text": _display(value), "differs": value != reference}
            number, reference_number = _number(value), _number(reference)
            if numeric_deltas and cell["differs"] and number is not None and reference_number is not None:
                cell["delta"] = f"{number - reference_number:+.4g}"
            cells.append(cell)
        rows.append(ValueRow(name=name, cells=cells, differs=any(c["differs"] for c in cells)))
    return rows


def _campaign_rows(chosen: list[ModelVersion], user: User) -> tuple[list[CampaignRow], bool]:
    ids = [v.pk for v in chosen]
    campaigns = list(
        campaigns_visible_to(user)
        .filter(Q(candidate__in=ids) | Q(baseline__in=ids) | Q(others__in=ids))
        .distinct()
        .select_related("verdict__signer")
        .prefetch_related("others")
        .order_by("-created_at", "-pk")[: MAX_CAMPAIGNS + 1]
    )
    capped = len(campaigns) > MAX_CAMPAIGNS
    campaigns = campaigns[:MAX_CAMPAIGNS]
    results = campaign_results_kept_many(campaigns=campaigns, compute_at_most=COMPUTE_PER_VIEW)
    rows = []
    for campaign in campaigns:
        found = results[campaign.pk]
        others = {o.pk for o in campaign.others.all()}
        rows.append(
            CampaignRow(
                campaign=campaign,
                label=FIGURE_LABELS.get(campaign.kind, "win rate"),
                cells=[_campaign_cell(campaign, v, others, found) for v in chosen],
                results_at=datetime.fromisoformat(found["computed_at"]) if found and found.get("computed_at") else None,
                verdict=getattr(campaign, "verdict", None),
            )
        )
    return rows, capped


def _interval(figure: dict | None) -> dict | None:
    if not figure or figure.get("estimate") is None:
        return None
    return {"estimate": figure["estimate"], "low": figure.get("low"), "high": figure.get("high")}


def _campaign_cell(campaign: Campaign, version: ModelVersion, others: set[int], results: dict | None) -> dict | None:
    """What the campaign says of one version: its role, and the campaign's figure for it (None: not in it)."""
    if version.pk == campaign.candidate_id:
        role = "candidate"
    elif version.pk == campaign.baseline_id:
        role = "baseline"
    elif version.pk in others:
        role = "compared"
    else:
        return None
    cell: dict[str, Any] = {"role": role, "win_rate": None, "score": None, "computed": results is not None}
    if results is None:
        return cell
    # the campaign's one figure is the candidate's: a baseline is read as what the candidate achieved against it
    if role in ("candidate", "baseline"):
        cell["win_rate"] = _interval(results.get("win_rate"))
    scores = (results.get("plackett_luce") or {}).get("scores") or []
    score = next((s for s in scores if s.get("item") == str(version)), None)
    cell["score"] = _interval({**score, "estimate": score.get("score")}) if score else None
    return cell
