"""The release gate: a declarative policy, and the evidence so far in, pass / fail / pending with reasons out. Pure.

The decision on the win rate is an anytime-valid sequential test (reviews/sequential.py), truncated at the
campaign's planned end, so the gate may be looked at after every judgment without inflating the false-pass rate
and always ends in pass or fail; `min_judgments` is a floor in the test's unit (judged items) before which it
decides nothing, and enough agreement between reviewers is a further condition for a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module
from reviews.sequential import SequentialPath, SequentialTest

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy_module("numpy")

POLICY_FIELDS = {
    "min_judgments",
    "min_win_rate",
    "margin",
    "alternative",
    "alpha",
    "power",
    "min_agreement",
    "approvers",
    "stop_when_decided",
}


class PolicyInvalid(ValueError):
    pass


def _number(data: Mapping[str, Any], name: str, low: float, high: float, default: float) -> float:
    # An explicit null is refused like any other non-number: a field with a default has no "unset" value.
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise PolicyInvalid(f"{name} must be a number from {low} to {high}")
    return value


def _optional_number(data: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    return None if data.get(name) is None else _number(data, name, low, high, 0.0)


@dataclass(frozen=True)
class GatePolicy:
    """What the candidate must show before an approver may approve it.

    min_win_rate is the rate the candidate must be shown to beat (p0): 0.5 for "better than the baseline";
    `margin` m instead sets it to 0.5 - m ("not worse than the baseline by more than m"). `alternative` (p1) is
    the rate at which the test has the stated power; it defaults to p0 + 0.1."""

    min_judgments: int = 30
    min_win_rate: float = 0.5
    alternative: float = 0.6
    alpha: float = 0.05
    power: float = 0.8
    min_agreement: float | None = None
    approvers: int = 1
    stop_when_decided: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GatePolicy:
        data = dict(data or {})
        unknown = set(data) - POLICY_FIELDS
        if unknown:
            raise PolicyInvalid(
                f"unknown gate fields: {', '.join(sorted(unknown))} (known: {', '.join(sorted(POLICY_FIELDS))})"
            )
        if "margin" in data and "min_win_rate" in data:
            raise PolicyInvalid("give min_win_rate or margin, not both")
        min_judgments = data.get("min_judgments", 30)
        if not isinstance(min_judgments, int) or isinstance(min_judgments, bool) or min_judgments < 1:
            raise PolicyInvalid("min_judgments must be a whole number of at least 1")
        if "margin" in data:
            p0 = 0.5 - _number(data, "margin", 0, 0.49, 0.0)
        else:
            p0 = _number(data, "min_win_rate", 0.01, 0.98, 0.5)
        p1 = _number(data, "alternative", 0.02, 0.99, round(min(p0 + 0.1, 0.99), 6))
        if p1 <= p0:
            raise PolicyInvalid("alternative must be above the win rate to beat (min_win_rate)")
        approvers = data.get("approvers", 1)
        if not isinstance(approvers, int) or isinstance(approvers, bool) or not 1 <= approvers <= 10:
            raise PolicyInvalid("approvers must be a whole number from 1 to 10")
        stop = data.get("stop_when_decided", True)
        if not isinstance(stop, bool):
            raise PolicyInvalid("stop_when_decided must be true or false")
        return cls(
            min_judgments=min_judgments,
            min_win_rate=p0,
            alternative=p1,
            alpha=_number(data, "alpha", 0.001, 0.2, 0.05),
            power=_number(data, "power", 0.5, 0.99, 0.8),
            min_agreement=_optional_number(data, "min_agreement", -1, 1),
            approvers=approvers,
            stop_when_decided=stop,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def test(
        self, *, planned_end: int | None = None, per_item: int = 1, resolution: int = 2, unit: str = "judgment"
    ) -> SequentialTest:
        return SequentialTest(
            p0=self.min_win_rate,
            p1=self.alternative,
            alpha=self.alpha,
            beta=1 - self.power,
            horizon=planned_end,
            min_n=self.min_judgments,
            resolution=resolution,
            per_item=per_item,
            unit=unit,
        )

    def describe(self) -> str:
        parts = [
            (
                f"Pass when the candidate's win rate is shown to be above {self.min_win_rate:.2f} by a sequential test "
                f"that may be checked after every judgment (false pass at most {self.alpha:.0%}; power {self.power:.0%} "
                f"if the true rate is {self.alternative:.2f}), deciding nothing before {self.min_judgments} judged items "
                f"and always deciding at the campaign's planned end"
            ),
        ]
        if self.min_agreement is not None:
            parts.append(f"and reviewers agreeing with Krippendorff's alpha of at least {self.min_agreement:.2f}")
        text = " ".join(parts) + ". Fail once the evidence shows it is not."
        if self.approvers > 1:
            text += f" Approval takes {self.approvers} approvers; one rejection rejects."
        if self.stop_when_decided:
            text += " Tasks stop being handed out once the gate has decided."
        return text


@dataclass(frozen=True)
class GateResult:
    status: str  # "pass" | "fail" | "pending" (pending: the test says continue, or a floor is not met yet)
    reasons: list[str] = field(default_factory=list)
    decided_at: int | None = None  # the judgment count at which the sequential test decided
    path: SequentialPath | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons), "decided_at": self.decided_at}


def gate_evaluate(
    policy: GatePolicy,
    outcomes: Sequence[float] | NDArray[np.float64],
    *,
    judgments: int | None = None,
    agreement: float | None = None,
    planned_end: int | None = None,
    per_item: int = 1,
    resolution: int = 2,
    unit: str = "judgment",
    more_to_come: bool = True,
) -> GateResult:
    """outcomes: the candidate's results in arrival order (1 win, 0.5 tie or both bad, 0 loss), one per unit (a
    judgment, or a completed item's mean when several reviewers judge each); planned_end: the campaign's size in
    units, where the test must decide; more_to_come: False once no further unit can arrive (every item judged or
    no reviewer left to take the rest), which brings the end forward to the units in."""
    return gate_decide(
        policy,
        units=len(outcomes),
        path_of=lambda test: test.path(outcomes),
        agreement=lambda: agreement,
        planned_end=planned_end,
        per_item=per_item,
        resolution=resolution,
        unit=unit,
        more_to_come=more_to_come,
    )


def gate_decide(
    policy: GatePolicy,
    *,
    units: int,
    path_of: Callable[[SequentialTest], SequentialPath],
    agreement: Callable[[], float | None],
    planned_end: int | None = None,
    per_item: int = 1,
    resolution: int = 2,
    unit: str = "judgment",
    more_to_come: bool = True,
) -> GateResult:
    """`gate_evaluate` on `units` units whose path `path_of` gives for the test (from the outcomes, or from a running
    tally of them); `agreement` is asked only when the test says pass and the policy needs it."""
    horizon = planned_end
    if horizon is not None and not more_to_come:
        horizon = min(horizon, units)
    if not units:
        if horizon == 0:
            return GateResult(
                "fail", [f"No {unit} was judged and none can be any more: nothing shows the candidate is better."]
            )
        return GateResult("pending", [f"No {unit}s judged yet; the policy looks from {policy.min_judgments} on."])
    path = path_of(policy.test(planned_end=horizon or None, per_item=per_item, resolution=resolution, unit=unit))
    reasons = [path.explain()]
    if path.decision == "fail":
        return GateResult("fail", reasons, path.decided_at, path)
    if path.decision == "continue":
        return GateResult("pending", reasons, None, path)
    if policy.min_agreement is not None:
        alpha = agreement()
        if alpha is not None and alpha >= policy.min_agreement:
            reasons.append(
                f"Reviewers agree with Krippendorff's alpha {alpha:.2f} (at least {policy.min_agreement:.2f})."
            )
        else:
            reasons.append(
                "Agreement between reviewers cannot be measured (it needs items judged by two or more)."
                if alpha is None
                else f"Reviewers agree with Krippendorff's alpha {alpha:.2f}, below the {policy.min_agreement:.2f} required."
            )
            if more_to_come:
                return GateResult("pending", reasons, None, path)
            reasons.append("No more judgments can come, so the pass does not stand.")
            return GateResult("fail", reasons, path.decided_at, path)
    return GateResult("pass", reasons, path.decided_at, path)
