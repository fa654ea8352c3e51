from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from datasets.models import Dataset, DatasetVersion, Upload
from datasets.selectors import upload_progress


class DatasetCreateSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetVersionSummarySerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="number")
    items = serializers.IntegerField(source="item_count")

    class Meta:
        model = DatasetVersion
        fields = ["version", "sha256", "items", "source_name", "created_at"]


class DatasetSerializer(serializers.ModelSerializer):
    versions = DatasetVersionSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Dataset
        fields = ["name", "description", "created_at", "versions"]


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class VersionCreatedSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    sha256 = serializers.CharField()
    items = serializers.IntegerField()


class UploadAcceptedSerializer(serializers.Serializer):
    status_url = serializers.CharField()


class UploadProgressSerializer(serializers.Serializer):
    phase = serializers.CharField(help_text="queued, reading, saving, ready or failed")
    rows = serializers.IntegerField(help_text="rows read so far (rows stored once ready)")
    bytes_done = serializers.IntegerField()
    bytes_total = serializers.IntegerField()
    fraction = serializers.FloatField(help_text="share of the file read, 0 to 1")
    rows_per_second = serializers.FloatField(allow_null=True)
    seconds_left = serializers.FloatField(allow_null=True, help_text="estimated from the bytes read so far")


class UploadSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Upload
        fields = [
            "id",
            "kind",
            "status",
            "source_name",
            "target",
            "progress",
            "result",
            "error",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(UploadProgressSerializer)
    def get_progress(self, upload: Upload) -> dict:
        return upload_progress(upload)
