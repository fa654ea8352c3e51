"""Campaigns created before plans existed get theirs: the gate's planned end is their number of items."""
from django.db import migrations


def plan_existing(apps, schema_editor):
    from reviews.gate import GatePolicy, PolicyInvalid
    from reviews.plan import gate_plan, outcome_resolution

    Campaign = apps.get_model("reviews", "Campaign")
    for campaign in Campaign.objects.filter(plan={}).iterator():
        try:
            policy = GatePolicy.from_dict(campaign.gate_policy)
        except PolicyInvalid:
            continue
        versions = 1 + (campaign.baseline_id is not None) + campaign.others.count()
        resolution = outcome_resolution(kind=campaign.kind, overlap=campaign.overlap, compared_versions=versions,
                                        has_baseline=campaign.baseline_id is not None)
        items = campaign.tasks.filter(known_answer__isnull=True).count()
        Campaign.objects.filter(pk=campaign.pk).update(
            plan=gate_plan(policy, items=items, overlap=campaign.overlap, resolution=resolution))


class Migration(migrations.Migration):
    dependencies = [("reviews", "0005_lifecycle_quality_chain")]
    operations = [migrations.RunPython(plan_existing, migrations.RunPython.noop)]
