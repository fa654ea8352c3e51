from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"

    def ready(self) -> None:
        from notifications.kinds import register
        from reviews import tasks  # noqa: F401  registers the tasks its services enqueue by name (core.queue)
        from reviews.services.notices import KINDS

        for kind in KINDS:
            register(kind)
