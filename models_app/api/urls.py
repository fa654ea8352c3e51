from django.urls import path

from models_app.api import diff, views

urlpatterns = [
    path("models/", views.ModelListCreateView.as_view(), name="model-list"),
    path("models/<slug:name>/versions/", views.ModelVersionListCreateView.as_view(), name="model-version-list"),
    path(
        "models/<slug:name>/versions/<str:version>/",
        views.ModelVersionDetailView.as_view(),
        name="model-version-detail",
    ),
    path(
        "models/<slug:name>/versions/<str:version>/predictions/",
        views.PredictionUploadView.as_view(),
        name="prediction-upload",
    ),
    path(
        "models/<slug:name>/versions/<str:version>/diff/",
        diff.PredictionDiffView.as_view(),
        name="model-version-diff",
    ),
    path(
        "models/<slug:name>/versions/<str:version>/stage/",
        views.ModelVersionStageView.as_view(),
        name="model-version-stage",
    ),
]
