from django.urls import path

from integrations.api import views

urlpatterns = [
    path("integrations/mlflow/webhook/", views.MlflowWebhookView.as_view(), name="mlflow-webhook"),
]
