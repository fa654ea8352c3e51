from django.urls import path

from datasets.api import diff, resumable, views

urlpatterns = [
    path("datasets/", views.DatasetListCreateView.as_view(), name="dataset-list"),
    path("datasets/<slug:name>/", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<slug:name>/versions/", views.DatasetVersionListCreateView.as_view(), name="dataset-version-list"),
    path(
        "datasets/<slug:name>/versions/<id:number>/",
        views.DatasetVersionDetailView.as_view(),
        name="dataset-version-detail",
    ),
    path("datasets/<slug:name>/diff/", diff.DatasetVersionDiffView.as_view(), name="dataset-version-diff"),
    path("uploads/", resumable.ResumableUploadCreateView.as_view(), name="upload-create"),
    path("uploads/<id:pk>/", views.UploadDetailView.as_view(), name="upload-detail"),
]
