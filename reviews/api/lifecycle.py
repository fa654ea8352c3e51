"""A campaign's life through the API: pause, resume and close it; extend it; add reviewers; and tell a reviewer
why their work has ended."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import IsDataScientist, IsReviewer
from datasets.selectors import dataset_version_get
from reviews.selectors import campaign_get_for_reviewer, campaign_get_for_user, reviewer_campaign_state
from reviews.services.lifecycle import campaign_extend, campaign_reviewers_add


class CampaignStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["active", "paused", "closed"])
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=400)


class ExtendSerializer(serializers.Serializer):
    dataset_version = serializers.IntegerField(min_value=1, help_text="a version of the campaign's dataset")


class ExtendedSerializer(serializers.Serializer):
    tasks_added = serializers.IntegerField()
    plan = serializers.JSONField()


class ReviewersAddSerializer(serializers.Serializer):
    add = serializers.ListField(child=serializers.CharField(max_length=150), allow_empty=False)


class ReviewersSerializer(serializers.Serializer):
    reviewers = serializers.ListField(child=serializers.CharField())


class ReviewerStateSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="active · paused · closed")
    state = serializers.CharField(help_text="active · paused · closed · gate_decided · quota · done")
    message = serializers.CharField(help_text="why work has ended, in words; empty while there is work")
    progress = serializers.DictField()
    campaign = serializers.DictField(help_text="judged_items and planned_items, in the gate's unit")


class CampaignExtendView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(
        request=ExtendSerializer,
        responses=ExtendedSerializer,
        summary="Add the items of another version of the campaign's dataset (409 once the gate has decided)",
    )
    def post(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        data = ExtendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = dataset_version_get(
            dataset_name=campaign.dataset_version.dataset.name, number=data.validated_data["dataset_version"]
        )
        added = campaign_extend(campaign=campaign, actor=request.user, dataset_version=version)
        campaign.refresh_from_db(fields=["plan"])
        return Response({"tasks_added": added, "plan": campaign.plan})


class CampaignReviewersView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(
        request=ReviewersAddSerializer, responses=ReviewersSerializer, summary="Add reviewers to the campaign"
    )
    def post(self, request, pk):
        campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
        data = ReviewersAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            {
                "reviewers": campaign_reviewers_add(
                    campaign=campaign, actor=request.user, usernames=data.validated_data["add"]
                )
            }
        )


class CampaignReviewerStateView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        responses=ReviewerStateSerializer,
        summary="The caller's progress in the campaign, and why work has ended when it has",
    )
    def get(self, request, pk):
        campaign = campaign_get_for_reviewer(campaign_id=pk, user=request.user)
        return Response(reviewer_campaign_state(campaign=campaign, reviewer=request.user))
