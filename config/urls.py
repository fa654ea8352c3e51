from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from core import api_docs
from core.views import healthz, livez

api_v1 = (
    [
        path("", include("datasets.api.urls")),
        path("", include("models_app.api.urls")),
        path("", include("reviews.api.urls")),
        path("", include("webhooks.api.urls")),
        path("", include("core.tokens_api")),
        path("", include("integrations.api.urls")),
        path("", include("inspections.api.urls")),
    ],
    "api",
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs.swagger_ui, name="api-docs"),
    path("api/redoc/", api_docs.redoc, name="api-redoc"),
    path("", include("core.urls")),
    path("", include("datasets.urls")),
    path("", include("models_app.urls")),
    path("", include("webhooks.urls")),
    path("", include("notifications.urls")),
    path("", include("integrations.urls")),
    path("", include("inspections.urls")),
    path("", include("reviews.urls")),
]

handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
