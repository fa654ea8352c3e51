from django.urls import path

from webhooks.api import views

urlpatterns = [
    path("webhooks/", views.WebhookListCreateView.as_view(), name="webhook-list"),
    path("webhooks/<id:pk>/", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<id:pk>/deliveries/", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    path("webhooks/<id:pk>/ping/", views.WebhookPingView.as_view(), name="webhook-ping"),
    path("deliveries/<id:pk>/redeliver/", views.WebhookRedeliverView.as_view(), name="webhook-redeliver"),
]
