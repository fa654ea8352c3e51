"""Benchmark "all statistics for one campaign" (DESIGN: results, time to compute all statistics for 100k judgments).

    .venv/bin/python bench/stats.py [--items 20000] [--overlap 5] [--reviewers 20] [--repeat 5] [--seed 0]

Synthesises three campaigns of items × overlap judgments each (default 20,000 × 5 = 100,000), every item judged by
`overlap` distinct reviewers drawn from `reviewers`, in arrival order, with slice tags on the items:

- pairwise: a baseline and three candidates; half the tasks compare the candidate with the baseline, the rest the
  five other pairs; outcomes from a Bradley–Terry–Davidson model with a per-item effect; 2 reviewers click at random
  and 2 favour slot A;
- ranking: the same four versions, a full ranking per judgment (Plackett–Luce with per-item noise), adjacent
  places tied 15% of the time; given as the selectors build them (lists of tied groups of version ids);
- labeling: six labels, each judgment one label (reviewers right 75–95% of the time, one at random), and three
  model versions' predictions per item.

Then it times every part of the statistics a results page and the gate need, from de-blinded arrays (the
database read is not timed: see bench/next_task.py for that side), `--repeat` times after one warm-up, and prints
the median milliseconds per part and their total per campaign. Pure: no Django, no database.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reviews import stats
from reviews.gate import GatePolicy, gate_evaluate

VERSIONS = [101, 102, 103, 104]  # model version ids: 101 the baseline, 102 the candidate
BASELINE, CANDIDATE = 101, 102
STRENGTH = np.array([0.0, 0.3, -0.25, 0.1])
TIE_NU = 0.5
LANGS, DOMAINS = ["en", "de", "fr", "ja"], ["chat", "code", "math", "legal"]
LABELS = ["billing", "bug", "feature", "praise", "spam", "other"]
SLICE_MIN = 100


# ------------------------------------------------------------------ synthesis


def assign_reviewers(rng, items: int, overlap: int, reviewers: int) -> tuple[np.ndarray, np.ndarray]:
    """(item, reviewer) per judgment, `overlap` distinct reviewers per item, shuffled into arrival order."""
    chosen = np.argsort(rng.random((items, reviewers)), axis=1)[:, :overlap]
    item = np.repeat(np.arange(items), overlap)
    reviewer = chosen.ravel()
    order = rng.permutation(len(item))
    return item[order], reviewer[order]


def item_tags(rng, items: int) -> list[list[str]]:
    lang = rng.choice(len(LANGS), items, p=[0.55, 0.2, 0.15, 0.1])
    domain = rng.choice(len(DOMAINS), items)
    hard = rng.random(items) < 0.12
    tags = [
        [f"lang:{LANGS[a]}", f"domain:{DOMAINS[b]}"] + (["hard"] if h else [])
        for a, b, h in zip(lang, domain, hard, strict=True)
    ]
    for k in rng.choice(items, 15, replace=False):  # a slice too small to report
        tags[k].append("new-domain")
    return tags


def synth_pairwise(rng, items, overlap, reviewers):
    item, reviewer = assign_reviewers(rng, items, overlap, reviewers)
    pairs = [(1, 0), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    pair_of_item = rng.choice(len(pairs), items, p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    first_idx = np.array([p[0] for p in pairs])[pair_of_item]
    second_idx = np.array([p[1] for p in pairs])[pair_of_item]
    # the item's own answer (Davidson with an item effect), then each reviewer gives it or noise
    diff = STRENGTH[first_idx] - STRENGTH[second_idx] + rng.normal(0, 0.8, items)
    p_first = np.exp(diff / 2)
    p_second = np.exp(-diff / 2)
    total = p_first + p_second + TIE_NU
    u = rng.random(items)
    latent = np.where(u < p_first / total, 0, np.where(u < (p_first + p_second) / total, 1, 2))
    latent[rng.random(items) < 0.04] = 3  # both bad
    noise = np.r_[np.linspace(0.08, 0.3, reviewers - 4), [0.3, 0.3, 1.0, 1.0]]  # last two: random clickers
    slot_a_bias = np.r_[np.zeros(reviewers - 4), [0.35, 0.35, 0.0, 0.0]]
    answer = np.where(rng.random(len(item)) < noise[reviewer], rng.integers(0, 4, len(item)), latent[item])
    versions = np.array(VERSIONS)
    first_v, second_v = versions[first_idx[item]], versions[second_idx[item]]
    first_in_a = rng.random(len(item)) < 0.5
    slot = np.select(
        [answer == 0, answer == 1],
        [np.where(first_in_a, "A", "B"), np.where(first_in_a, "B", "A")],
        np.where(answer == 2, "tie", "both_bad"),
    ).astype(object)
    biased = (rng.random(len(item)) < slot_a_bias[reviewer]) & (answer < 2)
    slot[biased] = "A"
    # de-blinding, as the selector does with slot_order
    chosen = np.empty(len(item), dtype=object)
    chosen[:] = slot
    shows_first = (slot == "A") == first_in_a
    decisive = (slot == "A") | (slot == "B")
    chosen[decisive & shows_first] = first_v[decisive & shows_first]
    chosen[decisive & ~shows_first] = second_v[decisive & ~shows_first]
    tags = item_tags(rng, items)
    return {
        "item": item,
        "reviewer": reviewer,
        "first": first_v,
        "second": second_v,
        "slot": slot,
        "chosen": chosen,
        "tags": [tags[i] for i in item],
    }


def synth_ranking(rng, items, overlap, reviewers):
    item, reviewer = assign_reviewers(rng, items, overlap, reviewers)
    care = np.r_[np.linspace(1.0, 0.5, reviewers - 1), [0.0]]  # the last one ranks at random
    item_effect = rng.normal(0, 0.6, (items, 4))
    utility = (STRENGTH + item_effect[item]) * 2 * care[reviewer, None] + rng.gumbel(size=(len(item), 4))
    order = np.argsort(-utility, axis=1)
    tie_next = rng.random((len(item), 3)) < 0.15
    rankings = []
    for row, ties in zip(order.tolist(), tie_next.tolist(), strict=True):
        groups = [[VERSIONS[row[0]]]]
        for k in range(1, 4):
            if ties[k - 1]:
                groups[-1].append(VERSIONS[row[k]])
            else:
                groups.append([VERSIONS[row[k]]])
        rankings.append(groups)
    tags = item_tags(rng, items)
    return {"item": item, "reviewer": reviewer, "rankings": rankings, "tags": [tags[i] for i in item]}


def synth_labeling(rng, items, overlap, reviewers):
    item, reviewer = assign_reviewers(rng, items, overlap, reviewers)
    truth = rng.choice(len(LABELS), items, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    right = np.r_[np.linspace(0.95, 0.75, reviewers - 1), [1 / len(LABELS)]]
    label = np.where(rng.random(len(item)) < right[reviewer], truth[item], rng.integers(0, len(LABELS), len(item)))
    labels = np.array(LABELS, dtype=object)
    predictions = {}
    for version, accuracy in zip(VERSIONS[:3], (0.78, 0.86, 0.7), strict=True):
        guess = np.where(rng.random(items) < accuracy, truth, (truth + rng.integers(1, 3, items)) % len(LABELS))
        predictions[version] = dict(zip(range(items), labels[guess].tolist(), strict=True))
    tags = item_tags(rng, items)
    return {"item": item, "reviewer": reviewer, "label": labels[label], "predictions": predictions, "item_tags": tags}


# ------------------------------------------------------------------ the statistics, part by part


def gate_call(outcomes: np.ndarray, alpha: float | None) -> str:
    """The gate's sequential test over the outcomes in arrival order."""
    policy = GatePolicy.from_dict({"min_judgments": 100, "min_agreement": 0.3})
    return gate_evaluate(policy, outcomes, agreement=alpha).status


def run_pairwise(d, timer):
    with timer("de-blinded choices -> categories"):
        codes = stats.pairwise_categories(d["chosen"], d["first"], d["second"])
    with timer("win rate (candidate vs baseline)"):
        mine = (d["first"] == CANDIDATE) & (d["second"] == BASELINE)
        counts = stats.pairwise_counts(codes[mine])
        rate = counts.win_rate()
    with timer("Bradley-Terry-Davidson + 200 bootstrap"):
        outcome = np.select([codes == 0, codes == 1], [stats.WIN, stats.LOSS], stats.TIE)
        bt = stats.bradley_terry(d["first"], d["second"], outcome, bootstrap=200, seed=0)
    with timer("position bias"):
        bias = stats.position_bias(d["slot"])
    with timer("reliability matrix (20 x items)"):
        data = stats.reliability_matrix(d["reviewer"], d["item"], codes)
    with timer("Krippendorff alpha (nominal)"):
        alpha = stats.krippendorff_alpha(data.matrix, "nominal")
    with timer("Cohen kappa, every pair"):
        kappa = stats.cohen_kappa_pairs(data.matrix, reviewers=data.reviewers)
    with timer("consensus agreement + outliers"):
        consensus = stats.consensus_agreement(data.matrix, reviewers=data.reviewers)
        outliers = stats.flag_outliers(consensus, floor=0.5, min_units=100)
    with timer("slices (win rate per tag)"):
        points = np.select([codes == 0, codes == 1], [1.0, 0.0], 0.5)
        idx_mine = np.flatnonzero(mine)
        tags_mine = [d["tags"][k] for k in idx_mine]
        slices = stats.by_slice(
            tags_mine, lambda idx: stats.wilson_interval(points[idx_mine[idx]].sum(), len(idx)), min_size=SLICE_MIN
        )
    with timer("gate (reviews.gate)"):
        verdict = gate_call(points[mine], alpha)
    assert bt.low is not None and bt.high is not None  # bootstrapped: more than two versions compared
    return {
        "judgments": len(codes),
        "win rate": f"{rate.estimate:.3f} [{rate.low:.3f}, {rate.high:.3f}] over {counts.total}",
        "BT scores": ", ".join(
            f"{v}: {s:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            for v, s, lo, hi in zip(bt.items, bt.scores, bt.low, bt.high, strict=True)
        ),
        "BT tie ν": f"{bt.tie:.3f} [{bt.tie_low:.3f}, {bt.tie_high:.3f}], {bt.iterations} Newton steps",
        "position bias": f"A wins {bias.rate.estimate:.3f} [{bias.rate.low:.3f}, {bias.rate.high:.3f}] of {bias.slot_a + bias.slot_b} decisive",
        "alpha": f"{alpha:.3f}",
        "kappa pairs": f"{len(kappa.pairs())}, median {np.nanmedian(kappa.kappa):.3f}",
        "outliers": [(row["reviewer"], round(row["share"], 3)) for row in outliers.flagged],
        "slices": {
            tag: (s.n, None if s.figure is None else round(float(s.figure.estimate), 3)) for tag, s in slices.items()
        },
        "gate": verdict,
    }


def run_ranking(d, timer):
    with timer("rankings -> rank matrix"):
        ranks, items = stats.rank_matrix(d["rankings"], items=VERSIONS)
    with timer("mean ranks"):
        mean = stats.mean_rank_intervals(ranks, items)
    with timer("Plackett-Luce (ties averaged) + 200 bootstrap"):
        pl = stats.plackett_luce(ranks, items, bootstrap=200, seed=0)
    with timer("Bradley-Terry-Davidson on pairs + 200 bootstrap"):
        first, second, outcome, group = stats.comparisons_from_ranks(ranks, items)
        bt = stats.bradley_terry(first, second, outcome, groups=group, bootstrap=200, seed=0)
    with timer("win rate (candidate vs baseline)"):
        c, b = ranks[:, items.index(CANDIDATE)], ranks[:, items.index(BASELINE)]
        counts = stats.PairwiseCounts(int((c < b).sum()), int((c > b).sum()), int((c == b).sum()))
        rate = counts.win_rate()
    with timer("reliability matrix (units = item x version)"):
        n = len(ranks)
        units = (d["item"][:, None] * 4 + np.arange(4)).ravel()
        data = stats.reliability_matrix(np.repeat(d["reviewer"], 4), units, ranks.ravel())
    with timer("Krippendorff alpha (ordinal)"):
        alpha = stats.krippendorff_alpha(data.matrix, "ordinal")
    with timer("weighted kappa (quadratic), every pair"):
        kappa = stats.cohen_kappa_pairs(data.matrix, reviewers=data.reviewers, weights="quadratic")
    with timer("consensus agreement + outliers"):
        consensus = stats.consensus_agreement(data.matrix, reviewers=data.reviewers)
        outliers = stats.flag_outliers(consensus, floor=0.2, min_units=100)
    with timer("slices (Plackett-Luce per tag, no bootstrap)"):
        slices = stats.by_slice(
            d["tags"], lambda idx: stats.plackett_luce(ranks[idx], items, bootstrap=0), min_size=SLICE_MIN
        )
    with timer("gate (reviews.gate)"):
        points = np.where(c < b, 1.0, np.where(c > b, 0.0, 0.5))
        verdict = gate_call(points, alpha)
    assert pl.low is not None and pl.high is not None  # bootstrapped: more than two versions ranked
    return {
        "judgments": n,
        "mean rank": {v: round(f["mean"], 3) for v, f in mean.items()},
        "PL scores": ", ".join(
            f"{v}: {s:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            for v, s, lo, hi in zip(pl.items, pl.scores, pl.low, pl.high, strict=True)
        ),
        "PL iterations": pl.iterations,
        "BT scores": ", ".join(f"{v}: {s:+.3f}" for v, s in zip(bt.items, bt.scores, strict=True))
        + f", tie ν {bt.tie:.3f}",
        "win rate": f"{rate.estimate:.3f} [{rate.low:.3f}, {rate.high:.3f}] over {counts.total}",
        "alpha": f"{alpha:.3f}",
        "kappa pairs": f"{len(kappa.pairs())}, median {np.nanmedian(kappa.kappa):.3f}",
        "outliers": [(row["reviewer"], round(row["share"], 3)) for row in outliers.flagged],
        "slices": {tag: s.n for tag, s in slices.items()},
        "gate": verdict,
    }


def run_labeling(d, timer):
    with timer("gold labels by majority"):
        gold = stats.gold_labels(d["item"], d["label"])
    with timer("accuracy vs gold, 3 versions"):
        accuracy = {v: stats.accuracy_vs_gold(gold.gold, p) for v, p in d["predictions"].items()}
    with timer("confusion + precision/recall, 3 versions"):
        matrices = {v: stats.confusion(gold.gold, p, labels=LABELS) for v, p in d["predictions"].items()}
    with timer("reliability matrix (20 x items)"):
        data = stats.reliability_matrix(d["reviewer"], d["item"], d["label"])
    with timer("Krippendorff alpha (nominal)"):
        alpha = stats.krippendorff_alpha(data.matrix, "nominal")
    with timer("Cohen kappa, every pair"):
        kappa = stats.cohen_kappa_pairs(data.matrix, reviewers=data.reviewers)
    with timer("consensus agreement + outliers"):
        consensus = stats.consensus_agreement(data.matrix, reviewers=data.reviewers)
        outliers = stats.flag_outliers(consensus, floor=0.5, min_units=100)
    with timer("slices (candidate accuracy per tag)"):
        gold_items = np.array(list(gold.gold))
        gold_tags = [d["item_tags"][i] for i in gold_items]
        candidate = d["predictions"][CANDIDATE]
        right = np.array([candidate[i] == gold.gold[i] for i in gold_items.tolist()])
        slices = stats.by_slice(
            gold_tags, lambda idx: stats.wilson_interval(right[idx].sum(), len(idx)), min_size=SLICE_MIN
        )
    with timer("gate (reviews.gate)"):
        suggestion = np.array([candidate[i] for i in range(len(d["item_tags"]))], dtype=object)
        points = (suggestion[d["item"]] == d["label"]).astype(float)
        verdict = gate_call(points, alpha)
    return {
        "judgments": len(d["item"]),
        "gold": f"{len(gold.gold)} items, {len(gold.tied)} tied (no gold)",
        "accuracy": {v: f"{a.rate.estimate:.3f} [{a.rate.low:.3f}, {a.rate.high:.3f}]" for v, a in accuracy.items()},
        "recall (candidate)": dict(
            zip(LABELS, (None if r is None else round(r, 3) for r in matrices[CANDIDATE].recall), strict=True)
        ),
        "alpha": f"{alpha:.3f}",
        "kappa pairs": f"{len(kappa.pairs())}, median {np.nanmedian(kappa.kappa):.3f}",
        "outliers": [(row["reviewer"], round(row["share"], 3)) for row in outliers.flagged],
        "slices": {tag: s.n for tag, s in slices.items()},
        "gate": verdict,
    }


class Timer:
    def __init__(self):
        self.parts: dict[str, float] = {}

    def __call__(self, name):
        timer = self

        class Part:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                timer.parts[name] = timer.parts.get(name, 0.0) + (time.perf_counter() - self.start) * 1000

        return Part()


def measure(run, data, repeat):
    run(data, Timer())  # warm-up: lazy imports (scipy.special), caches
    runs, figures = [], None
    for _ in range(repeat):
        timer = Timer()
        figures = run(data, timer)
        runs.append(timer.parts)
    parts = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
    totals = [sum(r.values()) for r in runs]
    return parts, statistics.median(totals), min(totals), max(totals), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--overlap", type=int, default=5)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="timings only, not the figures")
    args = parser.parse_args()
    if args.overlap > args.reviewers:
        parser.error("overlap cannot exceed the number of reviewers")
    rng = np.random.default_rng(args.seed)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
        f"{args.items:,} items x overlap {args.overlap} = {args.items * args.overlap:,} judgments per campaign, "
        f"{args.reviewers} reviewers ({args.reviewers * (args.reviewers - 1) // 2} pairs); median of {args.repeat} runs"
    )
    campaigns = [
        ("pairwise", synth_pairwise, run_pairwise),
        ("ranking", synth_ranking, run_ranking),
        ("labeling", synth_labeling, run_labeling),
    ]
    summary = []
    for name, synth, run in campaigns:
        data = synth(rng, args.items, args.overlap, args.reviewers)
        parts, total, fastest, slowest, figures = measure(run, data, args.repeat)
        print(f"\n{name} campaign")
        width = max(map(len, parts))
        for part, ms in parts.items():
            print(f"  {part:<{width}}  {ms:8.1f} ms")
        print(f"  {'total':<{width}}  {total:8.1f} ms   (runs from {fastest:.1f} to {slowest:.1f} ms)")
        if not args.quiet:
            for key, value in figures.items():
                print(f"    {key}: {value}")
        summary.append((name, total))
    print("\n" + "  ".join(f"{name}: {total:.0f} ms" for name, total in summary))


if __name__ == "__main__":
    main()
