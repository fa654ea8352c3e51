"""Inspection endpoints: production logs in and out, schedules, and a run on request."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_lists import PagedListView
from core.permissions import CanSeeResults, IsDataScientist
from datasets.api.serializers import UploadAcceptedSerializer
from datasets.api.views import accepted_upload_response, read_permissions_or
from inspections.api.serializers import (
    LogBatchSerializer,
    LogUploadSerializer,
    RunResultSerializer,
    ScheduleCreateSerializer,
    ScheduleSerializer,
)
from inspections.models import InspectionSchedule
from inspections.selectors import logs_jsonl, schedule_get
from inspections.services.logs import log_upload_receive
from inspections.services.schedules import inspection_run_now, inspection_schedule_create
from models_app.selectors import model_version_get, registered_model_get
from reviews.api.exports import JSONErrorsOnly
from reviews.selectors import users_active_by_username


class LogUploadView(APIView):
    """As the registry's prediction uploads: data scientists (and admins) write; reviewers never see logs."""

    permission_classes = [IsDataScientist]
    parser_classes = [MultiPartParser]
    error_statuses = (413,)  # over SIGNOFF_MAX_UPLOAD_BYTES, the uploads' general limit (core/schema.py)

    @extend_schema(
        summary="Upload a model version's production logs (JSONL)",
        description="Up to SIGNOFF_SYNC_UPLOAD_MAX_BYTES the file is read within the request (201, or 200 for bytes "
        "already uploaded); a larger one is answered 202 with the upload to poll, whose `result` is the same body.",
        request={"multipart/form-data": LogUploadSerializer},
        responses={
            201: LogBatchSerializer,
            200: OpenApiResponse(LogBatchSerializer, "identical content: the first batch of these bytes"),
            202: UploadAcceptedSerializer,
        },
    )
    def post(self, request, name, version):
        model_version = model_version_get(model_name=name, version=version)
        data = LogUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = log_upload_receive(
            model_version=model_version, file=data.validated_data["file"], created_by=request.user
        )
        if outcome.upload:
            return accepted_upload_response(outcome.upload)
        return Response(
            LogBatchSerializer(outcome.batch).data,
            status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
        )


class LogExportView(APIView):
    permission_classes = [CanSeeResults]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONErrorsOnly

    @extend_schema(
        summary="A model version's production logs, oldest first, as JSONL (streamed)",
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request, name, version):
        model_version = model_version_get(model_name=name, version=version)
        response = StreamingHttpResponse(
            logs_jsonl(model_version=model_version), content_type="application/x-ndjson; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}-{version}-logs.jsonl"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _schedules():
    return InspectionSchedule.objects.select_related("model", "version").prefetch_related(
        "reviewers", "runs__model_version"
    )


class ScheduleListCreateView(PagedListView):
    get_permissions = read_permissions_or(IsDataScientist)
    queryset = InspectionSchedule.objects.none()
    serializer_class = ScheduleCreateSerializer
    error_statuses = (404,)  # a model, version or reviewer the body names does not exist (core/schema.py)

    @extend_schema(responses=ScheduleSerializer(many=True))
    def get(self, request):
        return self.paged_response(_schedules().order_by("-created_at", "-id"), ScheduleSerializer)

    @extend_schema(request=ScheduleCreateSerializer, responses={201: ScheduleSerializer})
    def post(self, request):
        data = ScheduleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        model = registered_model_get(name=d["model"])
        schedule = inspection_schedule_create(
            model=model,
            version=model_version_get(model_name=model.name, version=d["version"]) if d["version"] else None,
            every=d["every"],
            sample=d["sample"],
            kind=d["kind"],
            rubric=d["rubric"],
            labels=d["labels"],
            reviewers=users_active_by_username(usernames=d["reviewers"], field="reviewers"),
            stratify_by=d["stratify_by"],
            floor=d["floor"],
            created_by=request.user,
        )
        return Response(ScheduleSerializer(_schedules().get(pk=schedule.pk)).data, status=status.HTTP_201_CREATED)


class ScheduleDetailView(APIView):
    permission_classes = [CanSeeResults]

    @extend_schema(responses=ScheduleSerializer)
    def get(self, request, pk):
        schedule_get(pk=pk)
        return Response(ScheduleSerializer(_schedules().get(pk=pk)).data)


class ScheduleRunView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(
        summary="Run one inspection now, over the last period up to now",
        request=None,
        responses={
            201: RunResultSerializer,
            200: OpenApiResponse(RunResultSerializer, "no logs in the period: nothing created, and `note` says so"),
        },
    )
    def post(self, request, pk):
        run = inspection_run_now(schedule=schedule_get(pk=pk))
        body = {
            "campaign": run.campaign_id,
            "tasks": run.tasks,
            "run": run.pk,
            "logs_in_period": run.logs_in_period,
            "note": run.note,
        }
        return Response(body, status=status.HTTP_201_CREATED if run.campaign_id else status.HTTP_200_OK)
