from django.urls import path

from notifications import views

urlpatterns = [
    path("account/notifications/", views.account_notifications, name="account-notifications"),
]
