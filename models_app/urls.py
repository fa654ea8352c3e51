from django.urls import path

from models_app import diff_views, views

urlpatterns = [
    path("models/", views.registry, name="registry"),
    path("models/new/", views.model_new, name="model-new"),
    path("models/<slug:name>/versions/new/", views.model_version_new, name="model-version-new"),
    path("models/<slug:name>/<str:version>/", views.model_version_detail, name="model-version-detail"),
    path("models/<slug:name>/<str:version>/diff/", diff_views.model_version_diff, name="model-version-diff"),
    path("models/<slug:name>/<str:version>/promote", views.model_version_promote, name="model-version-promote"),
]
