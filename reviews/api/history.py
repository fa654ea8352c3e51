"""A reviewer's look back at their own judgments in a campaign: the paged history, a change of one answer
(recorded, not overwritten), and the undo of a skip."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageNumberPagination
from core.permissions import IsReviewer
from reviews.api.serializers import JudgmentCreateSerializer, JudgmentSerializer, TaskPayloadSerializer
from reviews.models import Campaign, Judgment
from reviews.selectors import (
    assignment_payload,
    campaign_get_for_reviewer,
    judgment_blind_answer,
    judgment_get_for_reviewer,
    reviewer_judgments,
    reviewer_progress,
)
from reviews.services.assignments import assignment_unskip
from reviews.services.judgment_changes import judgment_change, judgment_change_refusal


class HistoryPagination(PageNumberPagination):
    """The shared paging (a repeated `?page=` is refused, a mistyped `?page_size=` named), 20 to a page."""

    page_size = 20


class HistoryEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task = serializers.IntegerField()
    item = serializers.CharField()
    answer = serializers.CharField(help_text="the answer in the reviewer's terms: slots as shown to them")
    rationale = serializers.CharField()
    created_at = serializers.DateTimeField()
    discarded = serializers.BooleanField(help_text="the lead set it aside: it does not count")
    replaces = serializers.IntegerField(allow_null=True, help_text="the earlier answer this change replaced")
    previous_answer = serializers.CharField(allow_null=True)
    changeable = serializers.BooleanField()
    not_changeable_reason = serializers.CharField(allow_null=True)


class HistoryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryEntrySerializer(many=True)


def _entry(judgment: Judgment, campaign: Campaign) -> dict:
    refusal = judgment_change_refusal(campaign=campaign, judgment=judgment)
    previous = judgment.replaces
    if previous is not None:
        previous.task = judgment.task  # the same item: no query for it
    return {
        "id": judgment.pk,
        "task": judgment.task_id,
        "item": judgment.task.item.external_id,
        "answer": judgment_blind_answer(judgment, campaign),
        "rationale": judgment.rationale,
        "created_at": judgment.created_at,
        "discarded": judgment.discarded_at is not None,
        "replaces": judgment.replaces_id,
        "previous_answer": judgment_blind_answer(previous, campaign) if previous is not None else None,
        "changeable": refusal is None,
        "not_changeable_reason": refusal.message if refusal is not None else None,
    }


class CampaignMyJudgmentsView(APIView):
    """The caller's current answers in this campaign, newest first, paged."""

    permission_classes = [IsReviewer]

    @extend_schema(
        responses=HistoryPageSerializer,
        summary="Your judgments in this campaign (your history panel)",
        parameters=[
            OpenApiParameter("page", int, description="1-based page number"),
            OpenApiParameter("page_size", int, description="entries per page (default 20, at most 500)"),
        ],
    )
    def get(self, request, pk):
        campaign = campaign_get_for_reviewer(campaign_id=pk, user=request.user)
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(reviewer_judgments(campaign=campaign, reviewer=request.user), request, self)
        entries = [_entry(judgment, campaign) for judgment in page or []]
        return paginator.get_paginated_response(HistoryEntrySerializer(entries, many=True).data)


class JudgmentTaskView(APIView):
    """The task of one of the caller's judgments as it was shown to them (same blind order), to change the answer."""

    permission_classes = [IsReviewer]

    @extend_schema(responses=TaskPayloadSerializer, summary="The task behind one of your judgments")
    def get(self, request, pk):
        judgment = judgment_get_for_reviewer(judgment_id=pk, reviewer=request.user)
        return Response(assignment_payload(judgment.assignment, judgment.task.campaign))


class JudgmentChangeView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        request=JudgmentCreateSerializer,
        responses={
            201: JudgmentSerializer,
            200: OpenApiResponse(JudgmentSerializer, "this client_id was already recorded: the same change"),
        },
        summary="Change your answer: recorded as a new judgment that replaces this one, which is kept",
    )
    def post(self, request, pk):
        data = JudgmentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        judgment, created = judgment_change(judgment_id=pk, reviewer=request.user, **data.validated_data)
        return Response(
            JudgmentSerializer(judgment).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class TaskUnskipView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(request=None, responses=TaskPayloadSerializer, summary="Take back your skip within the undo window")
    def post(self, request, task):
        assignment = assignment_unskip(task_id=task, reviewer=request.user)
        campaign = assignment.task.campaign
        return Response(
            {**assignment_payload(assignment, campaign), "progress": reviewer_progress(campaign, request.user)}
        )
