"""Campaign exports: judgments and per-item results as JSON Lines or CSV, streamed to whoever may see results.

The format is the URL's suffix (`judgments.csv`), not DRF's `?format=`: that one picks a DRF renderer, and these
responses are streamed past the renderers. Errors are still the one JSON error shape.
"""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from core.permissions import CanSeeResults
from reviews.selectors import campaign_get_for_user
from reviews.services.exports import (
    campaign_judgments_export,
    campaign_results_export,
    judgment_export_columns,
    result_export_columns,
    write_csv,
    write_jsonl,
)

CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


class JSONErrorsOnly(BaseContentNegotiation):
    """The export itself ignores the renderers; a client's `Accept: text/csv` must not turn into a 406, and an error
    is always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class JudgmentExportQuerySerializer(serializers.Serializer):
    include = serializers.ChoiceField(
        choices=["counted", "all"],
        default="counted",
        help_text="counted (default): judgments that count in the results; all: undone and discarded ones too, excluded "
        "reviewers' and those on known-answer items",
    )


def _streamed(rows, *, fmt: str, columns: list[str], filename: str) -> StreamingHttpResponse:
    body = write_csv(columns, rows) if fmt == "csv" else write_jsonl(rows)
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class _ExportView(APIView):
    permission_classes = [CanSeeResults]  # as the results endpoint: data scientists and approvers, never reviewers
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONErrorsOnly
    fmt = "jsonl"


JUDGMENT_FIELDS = (
    "judgment, task, item (external id), reviewer; per kind what was shown and what it means: pairwise `candidate`, "
    "`baseline`, `slots` (slot → model version), `choice` (as shown), `winner` (candidate, baseline, tie, both_bad), "
    "`winner_version`; ranking `slots`, `ranking_as_shown`, `ranking` and `positions` by model version; rating `slots`, "
    "`ratings_as_shown`, `ratings` by model version; labeling `labels`, `suggestion` (the candidate's output); then "
    "`outcome` (the candidate's: 1 win, 0.5 tie, 0 loss), `comment`, `duration_ms`, `created_at`, `status` (counted, "
    "retracted, discarded, excluded: the reviewer was excluded by the lead, known_answer: a known-answer item, unreadable: stored in a shape the results cannot read, so they leave it out and list it in their `problems`; its de-blinded fields are empty), `retracted_at`, `discarded_at`, `discarded_by`, `discard_reason`."
)
RESULT_FIELDS = (
    "task, item (external id), tags, judgments (counted), `candidate_score` (mean outcome); pairwise `candidate_wins`, "
    "`candidate_losses`, `ties`, `both_bad`; ranking `mean_rank` per model version; rating `mean_ratings` per model "
    "version and criterion (Likert mean, or pass rate); labeling `consensus` (majority label set, null when tied), "
    "`tied`, `votes`, `unanimous`, `candidate_agrees`."
)
CSV_NOTE = (
    " In CSV, lists and objects are compact JSON, and text starting with = + - @ tab or CR gets a leading apostrophe."
)


def _judgments_schema(fmt: str):
    return extend_schema(
        operation_id=f"campaign_judgments_export_{fmt}",  # the derived id would carry the suffix's dot
        summary=f"A campaign's judgments, de-blinded, one per {'line' if fmt == 'jsonl' else 'row'} ({fmt.upper()}, streamed)",
        description=JUDGMENT_FIELDS + (CSV_NOTE if fmt == "csv" else ""),
        parameters=[JudgmentExportQuerySerializer],
        responses={
            (200, CONTENT_TYPES[fmt].split(";")[0]): OpenApiResponse(
                OpenApiTypes.STR, description="the export, as an attachment"
            )
        },
    )


def _results_schema(fmt: str):
    return extend_schema(
        operation_id=f"campaign_results_export_{fmt}",
        summary=f"A campaign's results per item, one per {'line' if fmt == 'jsonl' else 'row'} ({fmt.upper()}, streamed)",
        description=RESULT_FIELDS + (CSV_NOTE if fmt == "csv" else ""),
        responses={
            (200, CONTENT_TYPES[fmt].split(";")[0]): OpenApiResponse(
                OpenApiTypes.STR, description="the export, as an attachment"
            )
        },
    )


class CampaignJudgmentsExportView(_ExportView):
    @_judgments_schema("jsonl")
    def get(self, request, pk):
        query = JudgmentExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        rows = campaign_judgments_export(campaign=campaign, include_all=query.validated_data["include"] == "all")
        return _streamed(
            rows,
            fmt=self.fmt,
            columns=judgment_export_columns(campaign=campaign),
            filename=f"signoff-campaign-{campaign.pk}-judgments",
        )


class CampaignJudgmentsCsvExportView(CampaignJudgmentsExportView):
    fmt = "csv"

    @_judgments_schema("csv")
    def get(self, request, pk):
        return super().get(request, pk)


class CampaignResultsExportView(_ExportView):
    @_results_schema("jsonl")
    def get(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        return _streamed(
            campaign_results_export(campaign=campaign),
            fmt=self.fmt,
            columns=result_export_columns(campaign=campaign),
            filename=f"signoff-campaign-{campaign.pk}-results",
        )


class CampaignResultsCsvExportView(CampaignResultsExportView):
    fmt = "csv"

    @_results_schema("csv")
    def get(self, request, pk):
        return super().get(request, pk)
