"""The prediction diff of two versions of a model on one dataset version: counts, per tag, and pages of changed items.

Model outputs are what blind review hides from reviewers, so this reads as the results do: data scientists and
approvers only (CanSeeResults), as the version's detail does."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.converters import MAX_ID
from core.permissions import CanSeeResults
from datasets.selectors import dataset_version_get
from models_app.selectors import model_version_get
from models_app.selectors_diff import (
    NORMALIZE,
    PAGE_SIZE,
    prediction_diff_changed_page,
    prediction_diff_counts,
    prediction_sets_for_diff,
)
from models_app.services.diff import diff_against


class PredictionDiffQuerySerializer(serializers.Serializer):
    against = serializers.CharField(
        required=False, help_text="the other version of the same model (default: the version in production)"
    )
    dataset = serializers.SlugField()
    dataset_version = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    normalize = serializers.ChoiceField(
        choices=NORMALIZE,
        default="exact",
        help_text="exact: JSON values equal (text exactly); whitespace_case: ignore whitespace and letter case",
    )
    offset = serializers.IntegerField(
        min_value=0, max_value=MAX_ID, default=0, help_text="where the page of changed items starts"
    )


class DiffClassCountsSerializer(serializers.Serializer):
    identical = serializers.IntegerField()
    changed = serializers.IntegerField()
    missing = serializers.IntegerField()


class ChangedPredictionSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the item's external id")
    tags = serializers.ListField(child=serializers.CharField())
    output = serializers.JSONField(help_text="this version's output")
    against_output = serializers.JSONField(help_text="the other version's output")


class ChangedPredictionsPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True, help_text="where the next page starts; null on the last")
    items = ChangedPredictionSerializer(many=True)


class PredictionDiffSerializer(DiffClassCountsSerializer):
    model = serializers.CharField()
    version = serializers.CharField()
    against = serializers.CharField()
    dataset = serializers.CharField()
    dataset_version = serializers.IntegerField()
    normalize = serializers.ChoiceField(choices=NORMALIZE)
    by_tag = serializers.DictField(child=DiffClassCountsSerializer(), help_text="the same counts per item tag")
    changed_items = ChangedPredictionsPageSerializer()


class PredictionDiffView(APIView):
    permission_classes = [CanSeeResults]

    @extend_schema(
        summary="Where two versions of a model give identical, changed or missing outputs on a dataset version",
        description="Items of the dataset version are matched to each version's prediction; `missing` counts items "
        "either version has no output for. On PostgreSQL JSON outputs compare as values; on SQLite as minified "
        "JSON text (key order matters there). Changed items are listed in external id order, "
        f"{PAGE_SIZE} per page, from `offset`.",
        parameters=[PredictionDiffQuerySerializer],
        responses=PredictionDiffSerializer,
    )
    def get(self, request, name, version):
        query = PredictionDiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        this = model_version_get(model_name=name, version=version)
        against = diff_against(version=this, against=q.get("against"))
        dataset_version = dataset_version_get(dataset_name=q["dataset"], number=q["dataset_version"])
        a, b = prediction_sets_for_diff(version=this, against=against, dataset_version=dataset_version)
        counts = prediction_diff_counts(a=a, b=b, normalize=q["normalize"])
        page = prediction_diff_changed_page(a=a, b=b, normalize=q["normalize"], offset=q["offset"])
        return Response(
            {
                "model": name,
                "version": this.version,
                "against": against.version,
                "dataset": q["dataset"],
                "dataset_version": dataset_version.number,
                "normalize": q["normalize"],
                "identical": counts.identical,
                "changed": counts.changed,
                "missing": counts.missing,
                "by_tag": counts.by_tag,
                "changed_items": page.as_dict(),
            }
        )
