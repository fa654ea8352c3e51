"""The diff of two dataset versions: counts of added, removed, changed and unchanged items, and pages of their ids."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import CanSeeResults
from datasets.selectors import dataset_version_get
from datasets.selectors_diff import CLASSES, FIELDS, PAGE_SIZE, version_diff_counts, version_diff_page


class VersionDiffQuerySerializer(serializers.Serializer):
    to = serializers.IntegerField(min_value=1, help_text="the newer version's number")
    show = serializers.ChoiceField(
        choices=CLASSES,
        required=False,
        help_text=f"only this class, one page of {PAGE_SIZE} from `offset` (default: the first page of each)",
    )
    offset = serializers.IntegerField(min_value=0, default=0, help_text="with `show`: where the page starts")

    def get_fields(self):
        fields = super().get_fields()
        # `from` is a Python keyword, so it cannot be declared as an attribute above
        fields["from"] = serializers.IntegerField(min_value=1, help_text="the older version's number")
        return fields


class DiffCountsSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class _PageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True, help_text="where the next page starts; null on the last")


class IdPageSerializer(_PageSerializer):
    items = serializers.ListField(child=serializers.CharField(), help_text="external ids, in order")


class ChangedItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    # DRF's metaclass takes declared fields out of the class, so this does not shadow Serializer.fields; the stubs
    # cannot see that, and the key is "fields" in the API
    fields = serializers.ListField(child=serializers.ChoiceField(choices=FIELDS))  # type: ignore[assignment]


class ChangedPageSerializer(_PageSerializer):
    items = ChangedItemSerializer(many=True)


class VersionDiffSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    to = serializers.IntegerField()
    counts = DiffCountsSerializer()
    added = IdPageSerializer(required=False)
    removed = IdPageSerializer(required=False)
    changed = ChangedPageSerializer(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.IntegerField()
        return fields


class DatasetVersionDiffView(APIView):
    permission_classes = [CanSeeResults]

    @extend_schema(
        summary="What changed between two versions of a dataset, items matched by external id",
        description="An item is changed when its input, reference or tags differ, or it gained or lost an image. "
        f"Lists are in external id order, {PAGE_SIZE} per page; `show` and `offset` page through one of them.",
        parameters=[VersionDiffQuerySerializer],
        responses=VersionDiffSerializer,
    )
    def get(self, request, name):
        query = VersionDiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        old = dataset_version_get(dataset_name=name, number=q["from"])
        new = dataset_version_get(dataset_name=name, number=q["to"])
        body = {"dataset": name, "from": old.number, "to": new.number, "counts": version_diff_counts(old=old, new=new)}
        for kind in [q["show"]] if "show" in q else CLASSES:
            body[kind] = version_diff_page(
                old=old, new=new, kind=kind, offset=q["offset"] if "show" in q else 0
            ).as_dict()
        return Response(body)
