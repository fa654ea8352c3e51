from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        from notifications.kinds import NotificationKind, register
        from webhooks import tasks  # noqa: F401  registers the tasks its services enqueue by name (core.queue)

        register(
            NotificationKind(
                name="webhook_failing",
                label="deliveries to a webhook endpoint of mine keep failing",
                help="Once per streak of failed attempts; again only after a delivery succeeds.",
            )
        )
