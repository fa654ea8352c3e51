from django.urls import path

from inspections import views

urlpatterns = [
    path("inspections/<int:pk>/", views.inspection_detail, name="inspection-detail"),
]
