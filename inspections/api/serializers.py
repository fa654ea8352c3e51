from rest_framework import serializers

from inspections.models import InspectionRun, InspectionSchedule
from inspections.periods import format_every


class LogUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text='JSONL, one log a line: {"input", "output", "id"?, "at"? (ISO 8601 with offset), "tags"?}'
    )


class LogBatchSerializer(serializers.Serializer):
    batch = serializers.IntegerField(source="pk")
    sha256 = serializers.CharField()
    logs = serializers.IntegerField(source="log_count")
    created_at = serializers.DateTimeField()


class ScheduleCreateSerializer(serializers.Serializer):
    model = serializers.SlugField(max_length=100)
    version = serializers.CharField(
        max_length=100, required=False, allow_null=True, default=None, help_text="default: the version in production"
    )
    every = serializers.CharField(max_length=20, help_text='a number and a unit: "7d", "1d", "12h", "30m", "10s", "2w"')
    sample = serializers.IntegerField(help_text="logs sampled per period (all of them when fewer)")
    kind = serializers.ChoiceField(choices=InspectionSchedule.Kind.choices)
    rubric = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    labels = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    reviewers = serializers.ListField(child=serializers.CharField(max_length=150), allow_empty=False)
    stratify_by = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text='a tag, e.g. "lang" for "lang:fr"'
    )
    floor = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0, max_value=1)


class RunSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version", default=None)

    class Meta:
        model = InspectionRun
        fields = [
            "id",
            "period_start",
            "period_end",
            "trigger",
            "version",
            "campaign",
            "logs_in_period",
            "tasks",
            "note",
            "alert",
        ]


class ScheduleSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    version = serializers.CharField(source="version.version", default=None)
    every = serializers.SerializerMethodField()
    reviewers = serializers.SerializerMethodField()
    runs = RunSerializer(many=True, read_only=True)

    class Meta:
        model = InspectionSchedule
        fields = [
            "id",
            "model",
            "version",
            "every",
            "sample",
            "kind",
            "rubric",
            "labels",
            "reviewers",
            "stratify_by",
            "floor",
            "anchor",
            "is_active",
            "created_at",
            "runs",
        ]

    def get_every(self, schedule: InspectionSchedule) -> str:
        return format_every(schedule.every_seconds)

    def get_reviewers(self, schedule: InspectionSchedule) -> list[str]:
        return sorted(u.username for u in schedule.reviewers.all())


class RunResultSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(allow_null=True, help_text="null: nothing was created (see note)")
    tasks = serializers.IntegerField()
    run = serializers.IntegerField()
    logs_in_period = serializers.IntegerField()
    note = serializers.CharField(help_text="why no campaign was created, in words; empty when one was")
