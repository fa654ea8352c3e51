from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"

    def ready(self) -> None:
        from reviews import tasks  # noqa: F401  registers the tasks its services enqueue by name (core.queue)
