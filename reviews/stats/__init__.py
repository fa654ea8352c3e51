"""Pure statistics over judgments (numpy; no Django import), so they can be tested and benchmarked alone.

proportions  Wilson intervals, t / paired / Welch intervals          pairwise   win rate, Bradley–Terry–Davidson, position bias
ranking      mean ranks, Plackett–Luce (MM), rankings as pairs        rating     per-criterion means, difference to baseline
labeling     gold by majority, accuracy, confusion matrix             agreement  Krippendorff's alpha, Cohen's kappa, consensus, outliers
slices       any figure per slice tag
"""

from reviews.stats.agreement import (
    LEVELS,
    ConsensusAgreement,
    KappaTable,
    OutlierReport,
    ReliabilityData,
    cohen_kappa_pairs,
    coincidence_matrix,
    consensus_agreement,
    flag_outliers,
    krippendorff_alpha,
    reliability_matrix,
)
from reviews.stats.labeling import Accuracy, ConfusionMatrix, GoldLabels, accuracy_vs_gold, confusion, gold_labels
from reviews.stats.pairwise import (
    LOSS,
    PAIRWISE_CATEGORIES,
    TIE,
    WIN,
    BradleyTerryFit,
    PairwiseCounts,
    PositionBias,
    bradley_terry,
    pairwise_categories,
    pairwise_counts,
    position_bias,
)
from reviews.stats.proportions import (
    Z_95,
    Difference,
    Interval,
    paired_difference,
    t_interval,
    welch_difference,
    wilson_bounds,
    wilson_interval,
)
from reviews.stats.ranking import (
    PlackettLuceFit,
    comparisons_from_ranks,
    mean_rank_intervals,
    mean_ranks,
    pairwise_from_rankings,
    plackett_luce,
    rank_matrix,
    ranking_positions,
)
from reviews.stats.rating import (
    acceptable,
    normalised_score,
    pairwise_from_ratings,
    rating_difference,
    rating_differences,
    rating_summary,
)
from reviews.stats.slices import SliceFigure, by_slice

__all__ = [
    "LEVELS",
    "LOSS",
    "PAIRWISE_CATEGORIES",
    "TIE",
    "WIN",
    "Z_95",
    "Accuracy",
    "BradleyTerryFit",
    "ConfusionMatrix",
    "ConsensusAgreement",
    "Difference",
    "GoldLabels",
    "Interval",
    "KappaTable",
    "OutlierReport",
    "PairwiseCounts",
    "PlackettLuceFit",
    "PositionBias",
    "ReliabilityData",
    "SliceFigure",
    "acceptable",
    "accuracy_vs_gold",
    "bradley_terry",
    "by_slice",
    "cohen_kappa_pairs",
    "coincidence_matrix",
    "comparisons_from_ranks",
    "confusion",
    "consensus_agreement",
    "flag_outliers",
    "gold_labels",
    "krippendorff_alpha",
    "mean_rank_intervals",
    "mean_ranks",
    "normalised_score",
    "paired_difference",
    "pairwise_categories",
    "pairwise_counts",
    "pairwise_from_rankings",
    "pairwise_from_ratings",
    "plackett_luce",
    "position_bias",
    "rank_matrix",
    "ranking_positions",
    "rating_difference",
    "rating_differences",
    "rating_summary",
    "reliability_matrix",
    "t_interval",
    "welch_difference",
    "wilson_bounds",
    "wilson_interval",
]
