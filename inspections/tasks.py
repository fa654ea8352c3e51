"""Beat's inspection sweep: a thin task over the services."""

from celery import shared_task

from inspections.models import InspectionSchedule
from inspections.services.alerts import inspection_alerts_check
from inspections.services.schedules import inspections_run_due


@shared_task(ignore_result=True)
def inspections_run_due_task() -> int:
    """Run each schedule's latest complete period once, then check every schedule for an alert."""
    created = inspections_run_due()
    for schedule in InspectionSchedule.objects.filter(is_active=True).select_related("model"):
        inspection_alerts_check(schedule=schedule)
    return len(created)
