"""Importing a Label Studio JSON export into a dataset: version, prediction sets and labeling campaign at once."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from core.permissions import IsDataScientist
from datasets.selectors import dataset_get
from reviews.services.label_studio_import import DEFAULT_MODEL, LabelStudioImport, label_studio_import

# Read in the request: an export is one JSON array published in one transaction, and the background Upload machinery
# knows only one kind of row per file. Memory stays flat; time grows with the file, and this bound keeps it to
# well under a minute (docs/bench-ingest.md, "Figures the code's comments point to").
MAX_IMPORT_BYTES = 50 * 1024 * 1024


class LabelStudioImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="Label Studio's JSON export: an array of tasks with annotations and predictions"
    )
    model = serializers.SlugField(
        max_length=100,
        default=DEFAULT_MODEL,
        required=False,
        help_text="the registered model the predictions' model versions belong to (created if missing)",
    )


class ImportedPredictionSetSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    predictions = serializers.IntegerField()


class LabelStudioImportedSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="the dataset version the tasks became")
    items = serializers.IntegerField()
    prediction_sets = ImportedPredictionSetSerializer(many=True)
    campaign = serializers.IntegerField(
        allow_null=True, help_text="the labeling campaign the annotations became, if any"
    )
    judgments = serializers.IntegerField()


def imported_body(result: LabelStudioImport) -> dict:
    return {
        "version": result.version.number,
        "items": result.version.item_count,
        "prediction_sets": [
            {"model": s.model_version.model.name, "version": s.model_version.version, "predictions": s.prediction_count}
            for s in result.prediction_sets
        ],
        "campaign": result.campaign.pk if result.campaign else None,
        "judgments": result.judgments,
    }


class LabelStudioImportView(APIView):
    error_statuses = (413,)  # an export larger than the limit (core/schema.py)
    permission_classes = [IsDataScientist]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Import a Label Studio JSON export: a dataset version, its predictions and its annotations",
        description=(
            "Tasks become items (id = the task's id, input = its `data`); predictions one prediction set per "
            "`model_version` under `model` (the chosen label(s) of a `choices` result, else the raw `result`); "
            "annotations that were not cancelled a labeling campaign, one judgment each, by the Signoff reviewer "
            "with the annotator's email or an inactive stand-in `ls-<id>`. All or nothing; errors name the task's "
            f"position (`line`), its id and the field. Read in the request: up to {MAX_IMPORT_BYTES // 2**20} MB."
        ),
        request={"multipart/form-data": LabelStudioImportSerializer},
        responses={
            201: LabelStudioImportedSerializer,
            200: OpenApiResponse(LabelStudioImportedSerializer, "the same bytes were imported before: what they made"),
        },
    )
    def post(self, request, name):
        dataset = dataset_get(name=name)
        data = LabelStudioImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        file = data.validated_data["file"]
        if file.size > MAX_IMPORT_BYTES:
            raise ApplicationError(
                f"The export is larger than {MAX_IMPORT_BYTES // 2**20} MB; split the Label Studio project's export.",
                code="too_large",
                status=413,
            )
        result = label_studio_import(
            dataset=dataset,
            file=file,
            source_name=file.name or "",
            created_by=request.user,
            model_name=data.validated_data.get("model") or DEFAULT_MODEL,
        )
        return Response(imported_body(result), status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
