"""Registry endpoints: models, versions, prediction uploads, and the recorded move to production."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_lists import PagedListView
from core.permissions import CanSeeResults, IsApprover, IsDataScientist
from datasets.api.serializers import UploadAcceptedSerializer
from datasets.api.views import accepted_upload_response, read_permissions_or
from datasets.models import Upload
from datasets.selectors import dataset_version_get
from datasets.services.uploads import upload_accept_if_large
from models_app.api.serializers import (
    ModelCreateSerializer,
    ModelVersionCreateSerializer,
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    PredictionSetCreatedSerializer,
    PredictionUploadSerializer,
    RegisteredModelSerializer,
    StageChangeSerializer,
)
from models_app.filters import ModelVersionFilter, RegisteredModelFilter
from models_app.models import ModelVersion, RegisteredModel
from models_app.selectors import (
    model_version_get,
    model_version_get_with_history,
    registered_model_get,
)
from models_app.services.predictions import prediction_set_ingest
from models_app.services.registry import model_version_create, model_version_set_stage, registered_model_create


class ModelListCreateView(PagedListView):
    get_permissions = read_permissions_or(IsDataScientist)
    queryset = RegisteredModel.objects.none()  # the model, for the schema's filter parameters
    filterset_class = RegisteredModelFilter
    serializer_class = ModelCreateSerializer

    @extend_schema(responses=RegisteredModelSerializer(many=True))
    def get(self, request):
        return self.paged_response(RegisteredModel.objects.order_by("name"), RegisteredModelSerializer)

    @extend_schema(request=ModelCreateSerializer, responses={201: RegisteredModelSerializer})
    def post(self, request):
        data = ModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = registered_model_create(created_by=request.user, **data.validated_data)
        return Response(RegisteredModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelVersionListCreateView(PagedListView):
    get_permissions = read_permissions_or(IsDataScientist)
    queryset = ModelVersion.objects.none()  # the model, for the schema's filter parameters
    filterset_class = ModelVersionFilter
    serializer_class = ModelVersionCreateSerializer

    @extend_schema(responses=ModelVersionSerializer(many=True))
    def get(self, request, name):
        versions = (
            registered_model_get(name=name)
            .versions.select_related("model", "created_by")
            .order_by("-created_at", "-id")
        )
        return self.paged_response(versions, ModelVersionSerializer)

    @extend_schema(request=ModelVersionCreateSerializer, responses={201: ModelVersionSerializer})
    def post(self, request, name):
        model = registered_model_get(name=name)
        data = ModelVersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = model_version_create(model=model, created_by=request.user, **data.validated_data)
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)


def _version_detail(name: str, version: str) -> dict:
    return ModelVersionDetailSerializer(model_version_get_with_history(model_name=name, version=version)).data


class ModelVersionDetailView(APIView):
    permission_classes = [CanSeeResults]

    @extend_schema(responses=ModelVersionDetailSerializer)
    def get(self, request, name, version):
        return Response(_version_detail(name, version))


class PredictionUploadView(APIView):
    permission_classes = [IsDataScientist]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Upload a model version's predictions on a dataset version (JSONL or CSV)",
        request={"multipart/form-data": PredictionUploadSerializer},
        responses={
            201: PredictionSetCreatedSerializer,
            200: OpenApiResponse(PredictionSetCreatedSerializer, "identical content: the existing prediction set"),
            202: UploadAcceptedSerializer,
        },
    )
    def post(self, request, name, version):
        model_version = model_version_get(model_name=name, version=version)
        data = PredictionUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset_version = dataset_version_get(
            dataset_name=data.validated_data["dataset"], number=data.validated_data["dataset_version"]
        )
        file = data.validated_data["file"]
        target = {
            "model": name,
            "version": version,
            "dataset": dataset_version.dataset.name,
            "dataset_version": dataset_version.number,
        }
        upload = upload_accept_if_large(
            kind=Upload.Kind.PREDICTION_SET, file=file, target=target, created_by=request.user
        )
        if upload:
            return accepted_upload_response(upload)
        prediction_set, created = prediction_set_ingest(
            model_version=model_version,
            dataset_version=dataset_version,
            file=file,
            source_name=file.name or "",
            created_by=request.user,
        )
        body = {
            "prediction_set": prediction_set.pk,
            "sha256": prediction_set.sha256,
            "predictions": prediction_set.prediction_count,
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ModelVersionStageView(APIView):
    """Approved -> production (and back) is a separate, recorded act by an approver."""

    permission_classes = [IsApprover]

    @extend_schema(request=StageChangeSerializer, responses={200: ModelVersionDetailSerializer})
    def post(self, request, name, version):
        model_version = model_version_get(model_name=name, version=version)
        data = StageChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model_version_set_stage(
            version=model_version,
            to_stage=data.validated_data["stage"],
            actor=request.user,
            reason=data.validated_data["reason"],
        )
        return Response(_version_detail(name, version))
