from django.urls import path

from webhooks import views

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook-list"),
    path("webhooks/<id:pk>/", views.webhook_detail, name="webhook-detail"),
    path("webhooks/<id:pk>/deactivate", views.webhook_deactivate, name="webhook-deactivate"),
    path("webhooks/<id:pk>/reactivate", views.webhook_reactivate, name="webhook-reactivate"),
    path("webhooks/<id:pk>/ping", views.webhook_ping, name="webhook-ping"),
    path("deliveries/<id:pk>/redeliver", views.delivery_redeliver, name="delivery-redeliver"),
]
