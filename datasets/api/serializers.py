from rest_framework import serializers

from datasets.models import Dataset, DatasetVersion, Upload


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


class UploadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Upload
        fields = ["id", "kind", "status", "source_name", "target", "result", "error", "created_at", "updated_at"]
