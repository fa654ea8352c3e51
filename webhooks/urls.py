from django.urls import path

from webhooks import views

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook-list"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook-detail"),
    path("webhooks/<int:pk>/deactivate", views.webhook_deactivate, name="webhook-deactivate"),
    path("webhooks/<int:pk>/reactivate", views.webhook_reactivate, name="webhook-reactivate"),
    path("deliveries/<int:pk>/redeliver", views.delivery_redeliver, name="delivery-redeliver"),
]
