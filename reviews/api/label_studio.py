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
INSTANCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # fits in a username (ls-<instance>-<id>)


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
    instance = serializers.RegexField(
        INSTANCE_PATTERN,
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text=(
            "the Label Studio instance the annotators belong to (e.g. its host name, `ls.example.org`): annotators "
            "without a Signoff reviewer of their e-mail get the stand-in `ls-<instance>-<id>`, so user 3 of one "
            "instance is not user 3 of another. Without it, `ls-<id>` as before."
        ),
        error_messages={"invalid": "must be letters, digits, '.', '_' or '-', starting with a letter or digit"},
    )
    control = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text=(
            "JSON_MIN, CSV and TSV exports only: the name of the Choices control (`from_name`) whose labels become "
            "the items' references; every other column but Label Studio's own is the task's data"
        ),
    )


class ImportedPredictionSetSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    predictions = serializers.IntegerField()


class ReferenceTieSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the item (Label Studio task id)")
    labels = serializers.ListField(child=serializers.JSONField(), help_text="the labels (or label sets) tied")
    chosen = serializers.JSONField(help_text="the reference given: the first of them in sort order")


class ReferenceTiesSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = ReferenceTieSerializer(many=True, help_text="the first 100")


class LabelStudioImportedSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="the dataset version the tasks became")
    items = serializers.IntegerField()
    prediction_sets = ImportedPredictionSetSerializer(many=True)
    campaign = serializers.IntegerField(
        allow_null=True, help_text="the labeling campaign the annotations became, if any"
    )
    judgments = serializers.IntegerField()
    # text, not an enum: a generic enum name would collide in the schema with other `format` fields
    format = serializers.CharField(
        help_text='the export variant read: "json", "json_min", "csv" or "tsv" ("" for an import made before this '
        "was recorded)"
    )
    instance = serializers.CharField(help_text="the Label Studio instance named for the annotators")
    references = serializers.IntegerField(
        help_text="items given their annotators' majority label as reference (when no campaign was made)"
    )
    reference_ties = ReferenceTiesSerializer(help_text="items whose annotators tied, and the label each was given")
    tasks_without_prediction_content = serializers.IntegerField(
        help_text="tasks whose predictions were listed by id only, with no copy in an annotation: imported without"
    )
    notes = serializers.ListField(child=serializers.CharField(), help_text="what the figures above mean, in words")


def imported_body(result: LabelStudioImport) -> dict:
    report = result.report
    return {
        "version": result.version.number,
        "items": result.version.item_count,
        "prediction_sets": [
            {"model": s.model_version.model.name, "version": s.model_version.version, "predictions": s.prediction_count}
            for s in result.prediction_sets
        ],
        "campaign": result.campaign.pk if result.campaign else None,
        "judgments": result.judgments,
        "format": report.get("format", ""),
        "instance": report.get("instance", ""),
        "references": report.get("references", 0),
        "reference_ties": report.get("reference_ties", {"total": 0, "items": []}),
        "tasks_without_prediction_content": report.get("tasks_without_prediction_content", 0),
        "notes": report.get("notes", []),
    }


class LabelStudioImportView(APIView):
    error_statuses = (413,)  # an export larger than the limit (core/schema.py)
    permission_classes = [IsDataScientist]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Import a Label Studio export: a dataset version, its predictions and its annotations",
        description=(
            "Every variant Label Studio writes: JSON (predictions as objects, or as ids with each annotation's "
            "embedded copy used), `download_all_tasks=true`, snapshots, JSON_MIN, CSV and TSV. "
            "Tasks become items (id = the task's id, input = its `data`); predictions one prediction set per "
            "`model_version` under `model` (the chosen label(s) of a `choices` result, else the raw `result`); "
            "annotations that were not cancelled a labeling campaign, one judgment each (with the annotation's "
            "`created_at` and `lead_time`), by the Signoff reviewer with the annotator's email or an inactive "
            "stand-in `ls-<instance>-<id>` (`ls-<id>` without `instance`). Without a model's choices predictions on "
            "the annotated tasks (always so for JSON_MIN, CSV, TSV) no campaign is made: each item's reference is "
            "its annotators' majority label, ties to the first in sort order, reported. All or nothing; errors name "
            "the task's position (`line`), its id and the field. Read in the request: up to "
            f"{MAX_IMPORT_BYTES // 2**20} MB."
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
            instance=data.validated_data["instance"],
            control=data.validated_data["control"],
        )
        return Response(imported_body(result), status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
