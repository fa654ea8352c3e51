from django.urls import path

from inspections.api import views

urlpatterns = [
    path(
        "models/<slug:name>/versions/<str:version>/logs/",
        views.LogUploadView.as_view(),
        name="model-version-logs",
    ),
    path(
        "models/<slug:name>/versions/<str:version>/logs.jsonl",
        views.LogExportView.as_view(),
        name="model-version-logs-export",
    ),
    path("inspections/", views.ScheduleListCreateView.as_view(), name="inspection-list"),
    path("inspections/<id:pk>/", views.ScheduleDetailView.as_view(), name="inspection-detail"),
    path("inspections/<id:pk>/run/", views.ScheduleRunView.as_view(), name="inspection-run"),
]
