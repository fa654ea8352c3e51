from django.urls import path

from reviews import campaign_form_views, comparison_views, lifecycle_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/", views.campaign_list, name="campaign-list"),
    path("signoff/", views.approver_queue, name="approver-queue"),
    path("campaigns/new/", views.campaign_new, name="campaign-new"),
    path("campaigns/<id:pk>/", views.campaign_detail, name="campaign-detail"),
    path("campaigns/new/plan", views.campaign_new_plan, name="campaign-new-plan"),
    path("campaigns/new/versions", campaign_form_views.campaign_new_versions, name="campaign-new-versions"),
    path("campaigns/new/preview", campaign_form_views.campaign_new_preview, name="campaign-new-preview"),
    path("campaigns/<id:pk>/signoff", views.campaign_signoff, name="campaign-signoff"),
    path("campaigns/<id:pk>/status", lifecycle_views.campaign_status_view, name="campaign-status"),
    path("campaigns/<id:pk>/extend", lifecycle_views.campaign_extend_view, name="campaign-extend"),
    path("campaigns/<id:pk>/reviewers", lifecycle_views.campaign_reviewers_view, name="campaign-reviewers"),
    path("campaigns/<id:pk>/report.<str:fmt>", views.campaign_report, name="campaign-report"),
    path("campaigns/<id:pk>/review/", views.campaign_review, name="campaign-review"),
    path("campaigns/<id:pk>/judgments/", views.campaign_judgments, name="campaign-judgments"),
    path("campaigns/<id:pk>/gold", views.campaign_gold, name="campaign-gold"),
    path("campaigns/<id:pk>/exclusions", views.reviewer_exclude_view, name="campaign-exclude-reviewer"),
    path("judgments/<id:pk>/discard", views.judgment_discard_view, name="judgment-discard"),
    path("verdicts/<id:pk>/", views.verdict_detail, name="verdict-detail"),
    path("chain/", views.chain_status, name="chain-status"),
    path("chain/check", views.chain_check_run, name="chain-check"),
    path("chain/acknowledge", views.chain_acknowledge, name="chain-acknowledge"),
    path("items/<id:pk>/image", views.item_image, name="item-image"),
    # no trailing slash: "models/<name>/<version>/" is a version's page, and "compare" could be a version's name
    path("models/<slug:name>/compare", comparison_views.model_versions_compare, name="model-versions-compare"),
    path("assets/plotly.js", views.plotly_js, name="plotly-js"),
]
