from django.urls import path

from reviews.api import chain, exports, history, label_studio, lifecycle, views

urlpatterns = [
    path("campaigns/", views.CampaignListCreateView.as_view(), name="campaign-list"),
    path("campaigns/<id:pk>/", views.CampaignDetailView.as_view(), name="campaign-detail"),
    path("campaigns/<id:pk>/next/", views.CampaignNextTaskView.as_view(), name="campaign-next"),
    path("campaigns/<id:pk>/progress/", lifecycle.CampaignReviewerStateView.as_view(), name="campaign-progress"),
    path("campaigns/<id:pk>/extend/", lifecycle.CampaignExtendView.as_view(), name="campaign-extend"),
    path("campaigns/<id:pk>/reviewers/", lifecycle.CampaignReviewersView.as_view(), name="campaign-reviewers"),
    path("campaigns/<id:pk>/results/", views.CampaignResultsView.as_view(), name="campaign-results"),
    path("campaigns/<id:pk>/exclusions/", views.CampaignExclusionsView.as_view(), name="campaign-exclusions"),
    path(
        "campaigns/<id:pk>/judgments.jsonl",
        exports.CampaignJudgmentsExportView.as_view(),
        name="campaign-judgments-jsonl",
    ),
    path(
        "campaigns/<id:pk>/judgments.csv",
        exports.CampaignJudgmentsCsvExportView.as_view(),
        name="campaign-judgments-csv",
    ),
    path("campaigns/<id:pk>/results.jsonl", exports.CampaignResultsExportView.as_view(), name="campaign-results-jsonl"),
    path("campaigns/<id:pk>/results.csv", exports.CampaignResultsCsvExportView.as_view(), name="campaign-results-csv"),
    path("campaigns/<id:pk>/signoff/", views.CampaignSignoffView.as_view(), name="campaign-signoff"),
    path("campaigns/<id:pk>/gold/", views.CampaignGoldView.as_view(), name="campaign-gold"),
    path("tasks/<id:task>/", views.TaskDetailView.as_view(), name="task-detail"),
    path("tasks/<id:task>/judgments/", views.JudgmentCreateView.as_view(), name="judgment-create"),
    path("tasks/<id:task>/skip/", views.TaskSkipView.as_view(), name="task-skip"),
    path("judgments/<id:pk>/undo/", views.JudgmentUndoView.as_view(), name="judgment-undo"),
    path("judgments/<id:pk>/discard/", views.JudgmentDiscardView.as_view(), name="judgment-discard"),
    path("judgments/<id:pk>/change/", history.JudgmentChangeView.as_view(), name="judgment-change"),
    path("judgments/<id:pk>/task/", history.JudgmentTaskView.as_view(), name="judgment-task"),
    path("tasks/<id:task>/unskip/", history.TaskUnskipView.as_view(), name="task-unskip"),
    path("campaigns/<id:pk>/my-judgments/", history.CampaignMyJudgmentsView.as_view(), name="campaign-my-judgments"),
    path("gate/<slug:model>/<str:version>/", views.GateView.as_view(), name="gate"),
    path("verdicts/", chain.VerdictChainView.as_view(), name="verdict-chain"),
    path("verdicts/verify/", chain.ChainVerifyView.as_view(), name="verdict-chain-verify"),
    path("verdicts/verify/acknowledge/", chain.ChainAcknowledgeView.as_view(), name="verdict-chain-acknowledge"),
    path(
        "datasets/<slug:name>/imports/label-studio/",
        label_studio.LabelStudioImportView.as_view(),
        name="dataset-import-label-studio",
    ),
]
