"""axe-core's accessibility rules run inside a Playwright page, from the copy axe-playwright-python ships."""

from typing import Any

from axe_playwright_python.sync_playwright import Axe

# What CI fails on; "minor" and "moderate" findings (best practices, mostly) are reported by axe but not enforced.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})

SHOWN_PER_RULE = 8

_axe = Axe()


def serious_violations(page: Any, *, exclude: str | None = None) -> list[dict[str, Any]]:
    """The serious and critical violations of the page as it stands now (open dialogs included), but in the
    elements `exclude` selects."""
    context = {"exclude": [[exclude]]} if exclude else None
    results = _axe.run(page, context=context, options={"resultTypes": ["violations"]})
    return [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    """One block per rule: its id, impact and help, then each offending element's selector and what axe says."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"][:SHOWN_PER_RULE]:
            target = " ".join(str(t) for t in node["target"])
            lines.append(f"    {target}")
            if node.get("failureSummary"):
                lines.extend(f"      {line}" for line in node["failureSummary"].splitlines())
        if len(violation["nodes"]) > SHOWN_PER_RULE:
            lines.append(f"    … and {len(violation['nodes']) - SHOWN_PER_RULE} more elements")
    return "\n".join(lines)
