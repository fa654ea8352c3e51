from django.urls import path

from datasets import views

urlpatterns = [
    path("datasets/", views.dataset_list, name="dataset-list"),
    path("datasets/new/", views.dataset_new, name="dataset-new"),  # before the detail page: "new" is reserved
    path("datasets/<slug:name>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/<slug:name>/diff/", views.dataset_diff, name="dataset-diff"),
]
