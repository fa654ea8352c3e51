from django.urls import path

from integrations import views

urlpatterns = [
    path("mlflow/syncs/<id:pk>/retry", views.mlflow_sync_retry_view, name="mlflow-sync-retry"),
]
