from django.urls import path

from reviews.api import chain, exports, label_studio, lifecycle, views

urlpatterns = [
    path("campaigns/", views.CampaignListCreateView.as_view(), name="campaign-list"),
    path("campaigns/<int:pk>/", views.CampaignDetailView.as_view(), name="campaign-detail"),
    path("campaigns/<int:pk>/next/", views.CampaignNextTaskView.as_view(), name="campaign-next"),
    path("campaigns/<int:pk>/progress/", lifecycle.CampaignReviewerStateView.as_view(), name="campaign-progress"),
    path("campaigns/<int:pk>/extend/", lifecycle.CampaignExtendView.as_view(), name="campaign-extend"),
    path("campaigns/<int:pk>/reviewers/", lifecycle.CampaignReviewersView.as_view(), name="campaign-reviewers"),
    path("campaigns/<int:pk>/results/", views.CampaignResultsView.as_view(), name="campaign-results"),
    path("campaigns/<int:pk>/exclusions/", views.CampaignExclusionsView.as_view(), name="campaign-exclusions"),
    path("campaigns/<int:pk>/judgments.jsonl", exports.CampaignJudgmentsExportView.as_view(), name="campaign-judgments-jsonl"),
    path("campaigns/<int:pk>/judgments.csv", exports.CampaignJudgmentsCsvExportView.as_view(), name="campaign-judgments-csv"),
    path("campaigns/<int:pk>/results.jsonl", exports.CampaignResultsExportView.as_view(), name="campaign-results-jsonl"),
    path("campaigns/<int:pk>/results.csv", exports.CampaignResultsCsvExportView.as_view(), name="campaign-results-csv"),
    path("campaigns/<int:pk>/signoff/", views.CampaignSignoffView.as_view(), name="campaign-signoff"),
    path("campaigns/<int:pk>/gold/", views.CampaignGoldView.as_view(), name="campaign-gold"),
    path("tasks/<int:task>/", views.TaskDetailView.as_view(), name="task-detail"),
    path("tasks/<int:task>/judgments/", views.JudgmentCreateView.as_view(), name="judgment-create"),
    path("tasks/<int:task>/skip/", views.TaskSkipView.as_view(), name="task-skip"),
    path("judgments/<int:pk>/undo/", views.JudgmentUndoView.as_view(), name="judgment-undo"),
    path("judgments/<int:pk>/discard/", views.JudgmentDiscardView.as_view(), name="judgment-discard"),
    path("gate/<slug:model>/<str:version>/", views.GateView.as_view(), name="gate"),
    path("verdicts/verify/", chain.ChainVerifyView.as_view(), name="verdict-chain-verify"),
    path("verdicts/verify/acknowledge/", chain.ChainAcknowledgeView.as_view(), name="verdict-chain-acknowledge"),
    path("datasets/<slug:name>/imports/label-studio/", label_studio.LabelStudioImportView.as_view(),
         name="dataset-import-label-studio"),
]
