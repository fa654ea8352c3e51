from django.urls import path

from inspections import views

urlpatterns = [
    path("inspections/<id:pk>/", views.inspection_detail, name="inspection-detail"),
]
