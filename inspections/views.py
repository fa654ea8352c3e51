"""The inspection page: a schedule, its runs, and the trend of expert-rated quality per period."""

from django.shortcuts import render

from core.models import User
from core.views import role_required
from inspections.periods import format_every
from inspections.selectors import inspection_trend, schedule_get
from inspections.trend import ALPHA, PREVIOUS_PERIODS
from reviews.charts import plotly_style_ids, trend_chart


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)  # as the registry's pages: never reviewers
def inspection_detail(request, pk):
    schedule = schedule_get(pk=pk)
    points = inspection_trend(schedule=schedule)
    measure = "accuracy of the logged output" if schedule.kind == "labeling" else "mean normalised score"
    with_values = [p for p in points if p["run"].campaign_id]
    chart = trend_chart(
        [f"{p['run'].period_end:%Y-%m-%d %H:%M:%S}" for p in with_values],
        [p["estimate"] for p in with_values],
        [p["low"] for p in with_values],
        [p["high"] for p in with_values],
        title=measure,
        floor=schedule.floor,
        alerted=[bool(p["run"].alert) for p in with_values],
    )
    context = {
        "schedule": schedule,
        "every": format_every(schedule.every_seconds),
        "points": list(reversed(points)),
        "chart": chart,
        "measure": measure,
        "test": "two-proportion z-test" if schedule.kind == "labeling" else "Welch t-test",
        "alpha": ALPHA,
        "previous_periods": PREVIOUS_PERIODS,
        "plotly_style_ids": plotly_style_ids(),
    }
    return render(request, "inspections/schedule_detail.html", context)
