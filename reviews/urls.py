from django.urls import path

from reviews import lifecycle_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/", views.campaign_list, name="campaign-list"),
    path("campaigns/new/", views.campaign_new, name="campaign-new"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign-detail"),
    path("campaigns/new/plan", views.campaign_new_plan, name="campaign-new-plan"),
    path("campaigns/<int:pk>/signoff", views.campaign_signoff, name="campaign-signoff"),
    path("campaigns/<int:pk>/status", lifecycle_views.campaign_status_view, name="campaign-status"),
    path("campaigns/<int:pk>/extend", lifecycle_views.campaign_extend_view, name="campaign-extend"),
    path("campaigns/<int:pk>/reviewers", lifecycle_views.campaign_reviewers_view, name="campaign-reviewers"),
    path("campaigns/<int:pk>/report.<str:fmt>", views.campaign_report, name="campaign-report"),
    path("campaigns/<int:pk>/review/", views.campaign_review, name="campaign-review"),
    path("campaigns/<int:pk>/judgments/", views.campaign_judgments, name="campaign-judgments"),
    path("campaigns/<int:pk>/gold", views.campaign_gold, name="campaign-gold"),
    path("campaigns/<int:pk>/exclusions", views.reviewer_exclude_view, name="campaign-exclude-reviewer"),
    path("judgments/<int:pk>/discard", views.judgment_discard_view, name="judgment-discard"),
    path("verdicts/<int:pk>/", views.verdict_detail, name="verdict-detail"),
    path("chain/", views.chain_status, name="chain-status"),
    path("chain/check", views.chain_check_run, name="chain-check"),
    path("chain/acknowledge", views.chain_acknowledge, name="chain-acknowledge"),
    path("items/<int:pk>/image", views.item_image, name="item-image"),
    path("assets/plotly.js", views.plotly_js, name="plotly-js"),
]
