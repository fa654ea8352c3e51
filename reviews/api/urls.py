from django.urls import path

from reviews.api import exports, label_studio, views

urlpatterns = [
    path("campaigns/", views.CampaignListCreateView.as_view(), name="campaign-list"),
    path("campaigns/<int:pk>/", views.CampaignDetailView.as_view(), name="campaign-detail"),
    path("campaigns/<int:pk>/next/", views.CampaignNextTaskView.as_view(), name="campaign-next"),
    path("campaigns/<int:pk>/results/", views.CampaignResultsView.as_view(), name="campaign-results"),
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
    path("datasets/<slug:name>/imports/label-studio/", label_studio.LabelStudioImportView.as_view(),
         name="dataset-import-label-studio"),
]
