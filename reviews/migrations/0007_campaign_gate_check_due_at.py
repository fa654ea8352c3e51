"""The gate-check debounce moves from a per-process dict to the campaign row, which every process sees."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0006_plan_existing_campaigns"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="gate_check_due_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
