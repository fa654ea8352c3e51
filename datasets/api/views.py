"""Dataset endpoints: create a dataset, upload a version (in the request, or in the background)."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_lists import PagedListView
from core.permissions import CanSeeResults, IsDataScientist
from datasets.api.resumable import ResumableUploadMixin, own_upload
from datasets.api.serializers import (
    DatasetCreateSerializer,
    DatasetSerializer,
    DatasetVersionSummarySerializer,
    FileUploadSerializer,
    UploadAcceptedSerializer,
    UploadSerializer,
    VersionCreatedSerializer,
)
from datasets.filters import DatasetFilter
from datasets.models import Dataset, DatasetVersion, Upload
from datasets.selectors import dataset_get, dataset_version_get, datasets_with_versions
from datasets.services.datasets import dataset_create, dataset_version_ingest
from datasets.services.uploads import upload_accept_if_large


def read_permissions_or(write_permission):
    """Readers (data scientists, approvers) may GET; writes need `write_permission`."""

    def get_permissions(self):
        return [CanSeeResults()] if self.request.method in ("GET", "HEAD", "OPTIONS") else [write_permission()]

    return get_permissions


def accepted_upload_response(upload: Upload) -> Response:
    url = reverse("api:upload-detail", args=[upload.pk])
    return Response({"status_url": url}, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class DatasetListCreateView(PagedListView):
    get_permissions = read_permissions_or(IsDataScientist)
    queryset = Dataset.objects.none()  # the model, for the schema's filter parameters; get() reads the selector
    filterset_class = DatasetFilter
    serializer_class = DatasetCreateSerializer

    @extend_schema(responses=DatasetSerializer(many=True))
    def get(self, request):
        return self.paged_response(datasets_with_versions(), DatasetSerializer)

    @extend_schema(request=DatasetCreateSerializer, responses={201: DatasetSerializer})
    def post(self, request):
        data = DatasetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = dataset_create(created_by=request.user, **data.validated_data)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(APIView):
    permission_classes = [CanSeeResults]

    @extend_schema(responses=DatasetSerializer)
    def get(self, request, name):
        return Response(DatasetSerializer(dataset_get(name=name)).data)


class DatasetVersionListCreateView(PagedListView):
    get_permissions = read_permissions_or(IsDataScientist)
    parser_classes = [MultiPartParser]
    queryset = DatasetVersion.objects.none()
    serializer_class = FileUploadSerializer

    @extend_schema(responses=DatasetVersionSummarySerializer(many=True))
    def get(self, request, name):
        return self.paged_response(dataset_get(name=name).versions.all(), DatasetVersionSummarySerializer)

    @extend_schema(
        summary="Upload a dataset version (JSONL one item a line, or CSV with a header)",
        request={"multipart/form-data": FileUploadSerializer},
        responses={
            201: VersionCreatedSerializer,
            200: OpenApiResponse(VersionCreatedSerializer, "identical content: the existing version"),
            202: UploadAcceptedSerializer,
        },
    )
    def post(self, request, name):
        dataset = dataset_get(name=name)
        data = FileUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        file = data.validated_data["file"]
        upload = upload_accept_if_large(
            kind=Upload.Kind.DATASET_VERSION, file=file, target={"dataset": dataset.name}, created_by=request.user
        )
        if upload:
            return accepted_upload_response(upload)
        version, created = dataset_version_ingest(
            dataset=dataset, file=file, source_name=file.name or "", created_by=request.user
        )
        body = {"version": version.number, "sha256": version.sha256, "items": version.item_count}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DatasetVersionDetailView(APIView):
    permission_classes = [CanSeeResults]

    @extend_schema(responses=DatasetVersionSummarySerializer)
    def get(self, request, name, number):
        return Response(DatasetVersionSummarySerializer(dataset_version_get(dataset_name=name, number=number)).data)


class UploadDetailView(ResumableUploadMixin, APIView):
    """Status of a background upload: receiving (resumable), queued, processing, then ready (with the result)
    or failed (with errors). A resumable upload also takes tus HEAD, PATCH and DELETE here."""

    @extend_schema(responses=UploadSerializer)
    def get(self, request, pk):
        return Response(UploadSerializer(own_upload(request, pk)).data)
