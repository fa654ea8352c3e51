from rest_framework import serializers

from models_app.models import ModelVersion, RegisteredModel, StageTransition


class ModelCreateSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ModelVersionCreateSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=100)
    git_sha = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    params = serializers.DictField(required=False, default=dict)
    metrics = serializers.DictField(required=False, default=dict)
    artifact_uri = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    def validate_version(self, value: str) -> str:
        if "/" in value or not value.strip():
            raise serializers.ValidationError("must be non-empty and contain no '/'")
        return value


class StageTransitionSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username")

    class Meta:
        model = StageTransition
        fields = ["from_stage", "to_stage", "actor", "reason", "cause", "created_at"]


class ModelVersionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "version",
            "stage",
            "git_sha",
            "params",
            "metrics",
            "artifact_uri",
            "created_by",
            "created_at",
        ]


class ModelVersionDetailSerializer(ModelVersionSerializer):
    transitions = StageTransitionSerializer(many=True, read_only=True)

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "transitions"]


class RegisteredModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = RegisteredModel
        fields = ["name", "description", "created_at"]


class PredictionUploadSerializer(serializers.Serializer):
    dataset = serializers.SlugField()
    dataset_version = serializers.IntegerField(min_value=1)
    file = serializers.FileField()


class PredictionSetCreatedSerializer(serializers.Serializer):
    prediction_set = serializers.IntegerField()
    sha256 = serializers.CharField()
    predictions = serializers.IntegerField()


class StageChangeSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(
        choices=[ModelVersion.Stage.PRODUCTION, ModelVersion.Stage.APPROVED, ModelVersion.Stage.REJECTED]
    )
    reason = serializers.CharField(allow_blank=False)
