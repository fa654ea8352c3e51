"""Pages for the review loop: home, campaigns, the review page, results and sign-off, item images."""

from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from core.models import User
from core.pagination import page_of
from core.views import role_required
from reviews.charts import plotly_bundle, plotly_style_ids, results_charts
from reviews.filters import ApproverQueueFilter, CampaignFilter, ReviewerQueueFilter
from reviews.forms import CampaignForm, SignoffForm
from reviews.gate import GatePolicy, PolicyInvalid
from reviews.models import ChainCheck, Verdict
from reviews.report import report_html, report_self_contained
from reviews.results import campaign_evidence, reviewer_quality
from reviews.results_cache import campaign_results_cached
from reviews.selectors import (
    campaign_gate_summary,
    campaign_get_for_reviewer,
    campaign_get_for_user,
    campaign_item_judgments,
    campaign_lead_controls,
    campaign_plan_preview,
    campaign_reviewer_get,
    campaign_user_is_lead,
    campaign_verdict,
    campaigns_awaiting_signoff,
    campaigns_visible_to,
    home_summary,
    item_get_for_user,
    judgment_get,
    reviewer_queue,
    reviewer_queue_campaigns,
)
from reviews.services.campaigns import campaign_create
from reviews.services.chain import (
    chain_blocking_check,
    chain_check_acknowledge,
    verdict_chain_check,
    verdict_integrity_problems,
)
from reviews.services.gold import gold_version_create
from reviews.services.judgments import judgment_discard
from reviews.services.quality import campaign_results_viewed, reviewer_exclude
from reviews.services.verdicts import campaign_signer_problem, verdict_sign


@login_required
def home(request):
    context = home_summary(user=request.user)
    if context["has_queue"]:
        queue = reviewer_queue_campaigns(reviewer=request.user)
        found = ReviewerQueueFilter(request.GET, queryset=queue, request=request)
        page = page_of(request, found.qs)
        context.update(filter=found, page=page, queue=reviewer_queue(reviewer=request.user, campaigns=page))
    return render(request, "home.html", context)


@login_required
def campaign_list(request):
    found = CampaignFilter(request.GET, queryset=campaigns_visible_to(request.user), request=request)
    return render(request, "reviews/campaign_list.html", {"filter": found, "page": page_of(request, found.qs)})


@role_required(User.Role.APPROVER)
def approver_queue(request):
    """Campaigns whose gate decided and that wait for this approver's sign-off, the longest waiting first."""
    awaiting = campaigns_awaiting_signoff(approver=request.user)
    found = ApproverQueueFilter(request.GET, queryset=awaiting, request=request)
    page = page_of(request, found.qs)
    rows = [{"campaign": c, "gate": campaign_gate_summary(c)} for c in page]
    return render(request, "reviews/approver_queue.html", {"filter": found, "page": page, "rows": rows})


@role_required(User.Role.DATA_SCIENTIST)
def campaign_new(request):
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # fields left empty take the service's defaults
        data = {
            name: value
            for name, value in form.cleaned_data.items()
            if value not in (None, "") and name not in CampaignForm.GATE_FIELDS
        }
        try:
            if "preview" in request.POST:  # the plan for these settings, without creating anything
                return render(request, "reviews/campaign_new.html", {"form": form, "preview": _plan_preview(form)})
            campaign = campaign_create(
                **{
                    **data,
                    "reviewers": list(data["reviewers"]),
                    "others": list(data["others"]),
                    "gate": form.gate_policy(),
                    "created_by": request.user,
                }
            )
        except ApplicationError as exc:
            field = exc.extra.get("field")
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Campaign created with {campaign.tasks.ordinary().count()} items.")
            for warning in campaign.plan.get("warnings", []):
                messages.warning(request, warning)
            return redirect("campaign-detail", pk=campaign.pk)
    return render(request, "reviews/campaign_new.html", {"form": form})


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def campaign_new_plan(request):
    """The plan for the new-campaign form's current settings, as JSON: the form shows it while it is filled in."""
    form = CampaignForm(request.POST)
    if not form.is_valid():
        return JsonResponse(
            {"errors": {name: [str(e) for e in errors] for name, errors in form.errors.items()}}, status=400
        )
    try:
        return JsonResponse(_plan_preview(form))
    except ApplicationError as exc:
        return JsonResponse({"errors": {exc.extra.get("field", "__all__"): [exc.message]}}, status=400)


def _plan_preview(form: CampaignForm) -> dict:
    data = form.cleaned_data
    versions = (
        [data["candidate"]] + ([data["baseline"]] if data.get("baseline") else []) + list(data.get("others") or [])
    )
    try:
        gate = GatePolicy.from_dict(form.gate_policy()).as_dict()
    except PolicyInvalid as exc:
        raise ApplicationError(f"gate: {exc}", code="invalid") from None
    return campaign_plan_preview(
        kind=data["kind"],
        dataset_version=data["dataset_version"],
        versions=versions,
        has_baseline=bool(data.get("baseline")),
        overlap=data.get("overlap") or 1,
        gate=gate,
        items_choice=data.get("items") or "all",
    )


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def campaign_detail(request, pk):
    """Results, gate, charts, and (for approvers) sign-off."""
    campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
    return _campaign_detail_page(request, campaign, SignoffForm())


def _campaign_detail_page(request, campaign, signoff_form: SignoffForm, status: int = 200):
    campaign_results_viewed(campaign=campaign)
    results = campaign_results_cached(campaign=campaign)
    verdict = campaign_verdict(campaign=campaign)
    context = {
        "campaign": campaign,
        "results": results,
        "results_computed_at": datetime.fromisoformat(results["computed_at"]),
        "results_max_stale_seconds": settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS,
        "charts": results_charts(results),
        "verdict": verdict,
        "plotly_style_ids": plotly_style_ids(),
        "approvals": campaign.approvals.select_related("approver"),
        "signoff_form": signoff_form,
        "signoff_problem": None if verdict else campaign_signer_problem(campaign=campaign, signer=request.user),
        "lead": campaign_lead_controls(campaign=campaign, user=request.user),
    }
    return render(request, "reviews/campaign_detail.html", context, status=status)


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def campaign_report(request, pk, fmt):
    """The report as signed (from the verdict's evidence) once there is a verdict; until then, as it stands."""
    if fmt not in ("json", "html"):
        raise Http404
    campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
    verdict = campaign_verdict(campaign=campaign)
    if verdict is None:
        campaign_results_viewed(campaign=campaign)  # the report as it stands shows the results
    evidence = verdict.evidence if verdict else campaign_evidence(campaign=campaign)
    name = f"signoff-campaign-{campaign.pk}-report"
    response: HttpResponse
    if fmt == "json":
        body = {key: value for key, value in evidence.items() if key != "report_html"}
        if verdict:
            body["verdict"] = {
                "id": verdict.pk,
                "decision": verdict.decision,
                "hash": verdict.hash,
                "previous_hash": verdict.previous_hash,
            }
        response = JsonResponse(body, json_dumps_params={"indent": 2})
    else:
        html, policy = report_self_contained(
            evidence.get("report_html") or report_html(campaign=campaign, evidence=evidence)
        )
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
        # the report's own policy (its inline style and scripts by hash, no nonce: it is frozen); the middleware
        # keeps a set header
        response["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def campaign_judgments(request, pk):
    """The lead's view: per item, every reviewer's judgment side by side, with the power to discard one."""
    campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
    contested_only = request.GET.get("contested") == "1"
    context = {
        "campaign": campaign,
        "rows": campaign_item_judgments(campaign=campaign, contested_only=contested_only),
        "contested_only": contested_only,
        "is_lead": campaign_user_is_lead(campaign=campaign, user=request.user),
        "quality": reviewer_quality(campaign),
        "exclusions": campaign.exclusions.select_related("reviewer", "excluded_by"),
    }
    return render(request, "reviews/campaign_judgments.html", context)


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def reviewer_exclude_view(request, pk):
    campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
    try:
        reviewer = campaign_reviewer_get(campaign=campaign, username=request.POST.get("reviewer", ""))
        reviewer_exclude(
            campaign=campaign, reviewer=reviewer, reason=request.POST.get("reason", ""), actor=request.user
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{reviewer.username} is excluded: their judgments no longer count, and their items are open to others.",
        )
    return redirect("campaign-judgments", pk=pk)


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def judgment_discard_view(request, pk):
    judgment = judgment_get(judgment_id=pk)
    try:
        judgment_discard(judgment=judgment, actor=request.user, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Judgment discarded: it is kept on record and no longer counts.")
    # back where the lead was: the same filtered list, scrolled to the item (#task-<id>)
    judgments_url = reverse("campaign-judgments", kwargs={"pk": judgment.task.campaign_id})
    back = request.POST.get("next", "")
    if back.startswith(judgments_url) and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect(judgments_url)


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def campaign_gold(request, pk):
    campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
    try:
        gold = gold_version_create(campaign=campaign, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        unresolved = f"; {len(gold['unresolved'])} tied items kept their reference" if gold["unresolved"] else ""
        messages.success(
            request,
            f"Gold labels published as {gold['dataset']} v{gold['version']} ({gold['labelled']} items labelled{unresolved}).",
        )
    return redirect("campaign-detail", pk=pk)


@require_POST
@role_required(User.Role.APPROVER)
def campaign_signoff(request, pk):
    campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
    form = SignoffForm(request.POST)
    # a refused sign-off shows the page again with the form as typed: the rationale is not lost
    if not form.is_valid():
        messages.error(request, "Choose a decision and give a rationale.")
        return _campaign_detail_page(request, campaign, form, status=400)
    try:
        verdict = verdict_sign(campaign=campaign, signer=request.user, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _campaign_detail_page(request, campaign, form, status=400)
    else:
        if isinstance(verdict, Verdict):
            messages.success(request, f"Signed: {verdict.decision_past}. Verdict hash {verdict.hash[:12]}…")
        else:
            messages.success(request, "Your approval is recorded; the policy needs another approver to sign as well.")
    return redirect("campaign-detail", pk=pk)


@role_required(User.Role.REVIEWER)
def campaign_review(request, pk):
    campaign = campaign_get_for_reviewer(campaign_id=pk, user=request.user)
    return render(request, "reviews/review.html", {"campaign": campaign, "undo_seconds": settings.SIGNOFF_UNDO_SECONDS})


@login_required
def item_image(request, pk):
    """Readers of datasets see every image; a reviewer only those of items assigned to them."""
    item = item_get_for_user(item_id=pk, user=request.user)
    if not item.image:
        raise Http404
    image = item.thumbnail if request.GET.get("size") == "thumb" and item.thumbnail else item.image
    content_type = "image/png" if (image.name or "").endswith(".png") else "image/jpeg"
    response = FileResponse(image.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def verdict_detail(request, pk):
    verdict = get_object_or_404(Verdict.objects.select_related("campaign", "signer"), pk=pk)
    return render(
        request,
        "reviews/verdict_detail.html",
        {"verdict": verdict, "integrity_problems": verdict_integrity_problems(verdict=verdict)},
    )


@role_required(User.Role.APPROVER)
def chain_status(request):
    """The verdict chain's recent checks; approvers run one, admins acknowledge a broken one."""
    checks = list(ChainCheck.objects.select_related("acknowledged_by")[:20])
    # the check that blocks sign-offs is the one an admin may acknowledge (the service's own rule)
    acknowledgeable = chain_blocking_check() if request.user.has_role(User.Role.ADMIN) else None
    return render(request, "reviews/chain.html", {"checks": checks, "acknowledgeable": acknowledgeable})


@require_POST
@role_required(User.Role.APPROVER)
def chain_check_run(request):
    check = verdict_chain_check(trigger=ChainCheck.Trigger.DEMAND)
    if check.ok:
        messages.success(request, f"The verdict chain holds: {check.count} verdicts.")
    else:
        messages.error(request, f"The verdict chain is broken: {check.reason}")
    return redirect("chain-status")


@require_POST
@role_required(User.Role.ADMIN)
def chain_acknowledge(request):
    try:
        chain_check_acknowledge(admin=request.user, note=request.POST.get("note", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "Acknowledged: sign-offs work again. A new, different breakage will block them again."
        )
    return redirect(
        request.POST.get("next")
        if url_has_allowed_host_and_scheme(request.POST.get("next"), allowed_hosts={request.get_host()})
        else "chain-status"
    )


@require_GET
@cache_control(public=True, max_age=86400)
def plotly_js(request):
    return HttpResponse(plotly_bundle(), content_type="application/javascript")
