"""The inspection alert: a finished period whose quality is below the schedule's floor or clearly below the
previous periods' (inspections.trend.drop_check states the test) fires once, as an `inspection.alert` webhook
(signed, through the outbox) and an e-mail to the model's owners, both in the transaction that records it."""

from django.db import transaction
from django.urls import reverse

from inspections.models import InspectionRun, InspectionSchedule
from inspections.selectors import inspection_trend, model_owners
from inspections.trend import drop_check
from notifications.services import notification_publish
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_event_publish

ALERT_EVENT = WebhookEndpoint.Event.INSPECTION_ALERT
ALERT_KIND = "inspection.alert"


def alert_payload(run: InspectionRun, decision: dict) -> dict:
    schedule = run.schedule
    return {
        "schedule": schedule.pk,
        "run": run.pk,
        "model": schedule.model.name,
        "version": run.model_version.version if run.model_version else None,
        "kind": schedule.kind,
        "period_start": run.period_start.isoformat(),
        "period_end": run.period_end.isoformat(),
        "campaign": run.campaign_id,
        **decision,
    }


def inspection_alerts_check(*, schedule: InspectionSchedule) -> InspectionRun | None:
    """Compare the latest finished period with the finished ones before it; alert once per period. Returns the
    run that alerted now, None otherwise."""
    finished = [p for p in inspection_trend(schedule=schedule) if p["finished"]]
    if not finished or finished[-1]["run"].alert:
        return None
    run = finished[-1]["run"]
    decision = drop_check(schedule.kind, [p["values"] for p in finished], schedule.floor)
    if decision is None:
        return None
    with transaction.atomic():
        # conditional: two sweeps at once alert once
        if not InspectionRun.objects.filter(pk=run.pk, alert__isnull=True).update(alert=decision):
            return None
        run.alert = decision
        payload = alert_payload(run, decision)
        webhook_event_publish(event=ALERT_EVENT, payload=payload)
        path = reverse("inspection-detail", args=[schedule.pk])
        notification_publish(
            kind=ALERT_KIND,
            users=model_owners(model_id=schedule.model_id),
            subject=f"Inspection alert: {run.model_version} quality dropped",
            message="\n".join(decision["reasons"])
            + f"\nPeriod {run.period_start:%Y-%m-%d %H:%M} to {run.period_end:%Y-%m-%d %H:%M} UTC.",
            path=path,
        )
    return run
