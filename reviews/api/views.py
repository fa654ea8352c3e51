"""Campaign endpoints: create, hand out tasks, take judgments, show results, sign off; and the CI gate."""

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_lists import PagedListView
from core.models import User
from core.permissions import CanSeeResults, IsApprover, IsDataScientist, IsReviewer
from core.schema import ErrorSerializer
from datasets.selectors import dataset_version_get
from models_app.models import ModelVersion
from models_app.selectors import model_version_get, model_version_get_by_ref
from reviews.api.lifecycle import CampaignStatusSerializer
from reviews.api.serializers import (
    GATE_VERDICT_FIELDS,
    ApprovalPendingSerializer,
    AssignmentStatusSerializer,
    BlindCampaignSerializer,
    CampaignCreatedSerializer,
    CampaignCreateSerializer,
    CampaignSerializer,
    ExclusionCreateSerializer,
    ExclusionSerializer,
    GateStatusSerializer,
    GoldVersionSerializer,
    JudgmentCreateSerializer,
    JudgmentSerializer,
    ReasonSerializer,
    ResultsSerializer,
    SignoffSerializer,
    SkipSerializer,
    TaskPayloadSerializer,
    VerdictSerializer,
)
from reviews.filters import CampaignFilter
from reviews.models import Approval, Campaign, ReviewerExclusion
from reviews.results import campaign_exclusions
from reviews.results_cache import campaign_results_cached
from reviews.selectors import (
    assignment_open_get,
    assignment_payload,
    campaign_approval_count,
    campaign_get_for_reviewer,
    campaign_get_for_user,
    campaign_reviewer_get,
    campaigns_visible_to,
    gate_status_for_model_version,
    judgment_get,
    reviewer_progress,
    users_active_by_username,
)
from reviews.services.assignments import assignment_claim_next, assignment_skip
from reviews.services.campaigns import campaign_create
from reviews.services.gold import gold_version_create
from reviews.services.judgments import judgment_discard, judgment_submit, judgment_undo
from reviews.services.lifecycle import campaign_status_set
from reviews.services.quality import campaign_results_viewed, reviewer_exclude
from reviews.services.verdicts import verdict_sign


def campaign_serializer_for(user: User):
    return (
        CampaignSerializer if user.has_role(User.Role.DATA_SCIENTIST, User.Role.APPROVER) else BlindCampaignSerializer
    )


class CampaignListCreateView(PagedListView):
    queryset = Campaign.objects.none()  # the model, for the schema's filter parameters; get() reads the selector
    filterset_class = CampaignFilter
    serializer_class = CampaignCreateSerializer

    def get_permissions(self):
        return super().get_permissions() if self.request.method == "GET" else [IsDataScientist()]

    @extend_schema(responses=CampaignSerializer(many=True))
    def get(self, request):
        serializer = campaign_serializer_for(request.user)
        campaigns = campaigns_visible_to(request.user)
        if serializer is CampaignSerializer:
            campaigns = campaigns.prefetch_related(
                "reviewers", Prefetch("others", ModelVersion.objects.select_related("model"))
            )
        return self.paged_response(campaigns, serializer)

    @extend_schema(request=CampaignCreateSerializer, responses={201: CampaignCreatedSerializer})
    def post(self, request):
        data = CampaignCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        reviewers = users_active_by_username(usernames=d["reviewers"], field="reviewers")
        baseline = model_version_get_by_ref(ref=d["baseline"], field="baseline") if d["baseline"] else None
        campaign = campaign_create(
            name=d["name"],
            kind=d["kind"],
            dataset_version=dataset_version_get(dataset_name=d["dataset"], number=d["dataset_version"]),
            candidate=model_version_get_by_ref(ref=d["candidate"], field="candidate"),
            baseline=baseline,
            others=[model_version_get_by_ref(ref=ref, field="models") for ref in d["models"]],
            labels=d["labels"],
            multi_label=d["multi_label"],
            show_suggestion=d["show_suggestion"],
            rubric=d["rubric"],
            content_format=d["content_format"],
            reviewers=reviewers,
            overlap=d["overlap"],
            sampling=d["sampling"],
            quota_per_reviewer=d["quota_per_reviewer"],
            lease_seconds=d["lease_seconds"],
            gate=d["gate"],
            guidelines=d["guidelines"],
            created_by=request.user,
            known_answers=d["known_answers"],
            known_answer_rate=d["known_answer_rate"],
            min_seconds=d["min_seconds"],
            items=d["items"],
        )
        return Response(
            {
                "id": campaign.pk,
                "tasks": campaign.tasks.ordinary().count(),
                "known_answer_tasks": campaign.tasks.known().count(),
                "items": campaign.items,
                "identical_items": campaign.identical_items,
                "plan": campaign.plan,
            },
            status=status.HTTP_201_CREATED,
        )


class CampaignDetailView(APIView):
    def get_permissions(self):
        return super().get_permissions() if self.request.method == "GET" else [IsDataScientist()]

    @extend_schema(responses=CampaignSerializer)
    def get(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        return Response(campaign_serializer_for(request.user)(campaign).data)

    @extend_schema(
        request=CampaignStatusSerializer,
        responses=CampaignSerializer,
        summary="Pause, resume or close the campaign (its lead or an admin)",
    )
    def patch(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        data = CampaignStatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_status_set(campaign=campaign, actor=request.user, **data.validated_data)
        return Response(CampaignSerializer(campaign).data)


def _task_ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]


class CampaignNextTaskView(APIView):
    error_statuses = (409,)  # a paused or closed campaign hands out no task (core/schema.py)
    permission_classes = [IsReviewer]

    @extend_schema(
        summary="The caller's next task in this campaign (blind; output order drawn per assignment)",
        parameters=[
            OpenApiParameter(
                "exclude",
                str,
                description="task ids already on the reviewer's screen, comma "
                "separated: asks for the one after them (prefetch)",
            )
        ],
        responses={200: TaskPayloadSerializer, 204: OpenApiResponse(description="nothing left for this reviewer")},
    )
    def get(self, request, pk):
        campaign = campaign_get_for_reviewer(campaign_id=pk, user=request.user)  # no joins: get-next reads nothing else
        assignment = assignment_claim_next(
            campaign=campaign,
            reviewer=request.user,
            exclude_task_ids=_task_ids(request.query_params.get("exclude", "")),
        )
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {**assignment_payload(assignment, campaign), "progress": reviewer_progress(campaign, request.user)}
        )


class TaskDetailView(APIView):
    """One of the caller's open tasks again (after an undo, or a reload)."""

    permission_classes = [IsReviewer]

    @extend_schema(responses=TaskPayloadSerializer)
    def get(self, request, task):
        assignment = assignment_open_get(task_id=task, reviewer=request.user)
        campaign = assignment.task.campaign
        return Response(
            {**assignment_payload(assignment, campaign), "progress": reviewer_progress(campaign, request.user)}
        )


class JudgmentCreateView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        request=JudgmentCreateSerializer,
        responses={
            201: JudgmentSerializer,
            200: OpenApiResponse(JudgmentSerializer, "this client_id was already recorded: the same judgment"),
        },
    )
    def post(self, request, task):
        data = JudgmentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        judgment, created = judgment_submit(task_id=task, reviewer=request.user, **data.validated_data)
        return Response(
            JudgmentSerializer(judgment).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class TaskSkipView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(request=SkipSerializer, responses=AssignmentStatusSerializer)
    def post(self, request, task):
        data = SkipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = assignment_skip(task_id=task, reviewer=request.user, **data.validated_data)
        return Response(AssignmentStatusSerializer(assignment).data)


class JudgmentUndoView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        request=None, responses=TaskPayloadSerializer, summary="Take back your judgment within the undo window"
    )
    def post(self, request, pk):
        assignment = judgment_undo(judgment_id=pk, reviewer=request.user)
        campaign = assignment.task.campaign
        return Response(
            {**assignment_payload(assignment, campaign), "progress": reviewer_progress(campaign, request.user)}
        )


class JudgmentDiscardView(APIView):
    """The campaign's lead sets a judgment aside with a reason; it stays on record and stops counting."""

    permission_classes = [IsDataScientist]

    @extend_schema(request=ReasonSerializer, responses=JudgmentSerializer)
    def post(self, request, pk):
        judgment = judgment_get(judgment_id=pk)
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        judgment = judgment_discard(judgment=judgment, actor=request.user, reason=data.validated_data["reason"])
        return Response(JudgmentSerializer(judgment).data)


class CampaignGoldView(APIView):
    """Labeling: the experts' majority labels as a new version of the campaign's dataset."""

    permission_classes = [IsDataScientist]

    @extend_schema(
        request=None,
        responses={
            201: GoldVersionSerializer,
            200: OpenApiResponse(GoldVersionSerializer, "published before: the same version"),
        },
    )
    def post(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        gold = gold_version_create(campaign=campaign, actor=request.user)
        return Response(gold, status=status.HTTP_201_CREATED if gold["created"] else status.HTTP_200_OK)


class CampaignResultsView(APIView):
    permission_classes = [CanSeeResults]

    @extend_schema(responses=ResultsSerializer)
    def get(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        campaign_results_viewed(campaign=campaign)
        return Response(campaign_results_cached(campaign=campaign))


class CampaignExclusionsView(PagedListView):
    """The lead takes a reviewer out of the campaign, with a reason, on record (and lists who was excluded)."""

    queryset = ReviewerExclusion.objects.none()
    serializer_class = ExclusionCreateSerializer

    def get_permissions(self):
        return [CanSeeResults()] if self.request.method == "GET" else [IsDataScientist()]

    @extend_schema(responses=ExclusionSerializer(many=True))
    def get(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        return self.paged_response(campaign_exclusions(campaign), ExclusionSerializer)

    @extend_schema(
        request=ExclusionCreateSerializer,
        responses={201: ExclusionSerializer},
        summary="Exclude a reviewer: their judgments stop counting, their items reopen, they get no more tasks",
    )
    def post(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        data = ExclusionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reviewer = campaign_reviewer_get(campaign=campaign, username=data.validated_data["reviewer"])
        exclusion = reviewer_exclude(
            campaign=campaign, reviewer=reviewer, reason=data.validated_data["reason"], actor=request.user
        )
        mine = next(e for e in campaign_exclusions(campaign) if e["reviewer"] == exclusion.reviewer.username)
        return Response(mine, status=status.HTTP_201_CREATED)


class CampaignSignoffView(APIView):
    permission_classes = [IsApprover]

    @extend_schema(
        request=SignoffSerializer,
        responses={
            201: VerdictSerializer,
            202: OpenApiResponse(ApprovalPendingSerializer, "approval recorded; the policy needs more approvers"),
        },
    )
    def post(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        data = SignoffSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        signed = verdict_sign(campaign=campaign, signer=request.user, **data.validated_data)
        if isinstance(signed, Approval):
            return Response(
                {**campaign_approval_count(campaign=campaign), "decision": signed.decision},
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(VerdictSerializer(signed).data, status=status.HTTP_201_CREATED)


class GateView(APIView):
    """What CI polls: approved, rejected, pending (a campaign is running) or none.

    Only roles that may read results may call it: to a reviewer, `pending` would say which version is the candidate
    of the blind campaign they judge. The verdict is narrow (id, decision, hash, signed_at) unless `?evidence=1`
    asks for the signer, the rationale and the results frozen at sign-off: CI polls, and a poll needs no evidence."""

    permission_classes = [CanSeeResults]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "evidence",
                bool,
                description="1: the whole verdict (signer, rationale, frozen "
                "results); without it only id, decision, hash and signed_at",
            )
        ],
        responses={
            200: GateStatusSerializer,
            403: OpenApiResponse(ErrorSerializer, "the caller's role may not read results (reviewers)"),
            404: OpenApiResponse(ErrorSerializer, "no such model version"),
        },
    )
    def get(self, request, model, version):
        model_version = model_version_get(model_name=model, version=version)
        gate_status, verdict = gate_status_for_model_version(model_version=model_version)
        # the verdict and the stage change commit together: reading the stage after the verdict keeps them consistent
        model_version.refresh_from_db(fields=["stage"])
        answer: dict[str, Any] | None = None
        if verdict is not None:
            answer = VerdictSerializer(verdict).data
            if request.query_params.get("evidence", "").lower() not in ("1", "true", "yes"):
                answer = {field: answer[field] for field in GATE_VERDICT_FIELDS}
        return Response(
            {
                "model": model,
                "version": version,
                "stage": model_version.stage,
                "status": gate_status,
                "verdict": answer,
            }
        )
