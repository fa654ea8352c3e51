from django.contrib.auth import views as auth_views
from django.urls import path

from core import account_views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", account_views.account_tokens, name="account-tokens"),
    path("account/tokens/<id:pk>/revoke/", account_views.account_token_revoke, name="account-token-revoke"),
]
