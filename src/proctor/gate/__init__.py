"""The gate: combine protocol suspicions by a declared rule and decide what happens to a report.

The gate follows the trusted-monitoring setup of Greenblatt et al. 2023 (*AI Control: Improving
Safety Despite Intentional Subversion*): a monitor scores every piece of untrusted work, and a
human audits only the most suspicious share of it, the *audit budget* (2% in the paper). Here
the monitors are oversight protocols, their suspicions are combined into one score by a declared
rule, and the threshold that spends the audit budget is calibrated per (domain, level) on honest
*calibration* episodes only, never on test episodes (DESIGN.md §4).

Vocabulary:

- A **verdict key** names one protocol at one budget, ``"protocol@budget"`` with the budget
  formatted by ``f"{budget:g}"`` (e.g. ``"replicate@0.25"``); the key ``"combined"`` names the
  combination of all of an episode's verdicts.
- An **abstention** (suspicion None) is "cannot judge". Combination rules ignore it; for
  thresholds it counts in the reference's n but is never flagged.
- A **cut** (:class:`Cut`) is a threshold t and a tie share q: a score s > t is flagged, a score
  s == t is flagged with probability q. :func:`cut_for` picks (t, q) so that the *expected*
  flagged share of the reference scores is exactly the audit budget, however many of them tie
  (a strict threshold alone flags nothing when more than the budget's share ties at the top).
- A **combiner** (:class:`Combiner`, :func:`fit_combiner`) calibrates each protocol's suspicion
  into an honest-calibration p-value and combines the p-values of the protocols that judged a
  report: Bonferroni's min-p, Fisher's (1925) -2 Σ log p, or a logistic stacker fitted on
  calibration episodes. Protocols that abstain too often, saturate or cannot rank are left out,
  with the reason recorded.

Everything here is a pure function of its arguments (and, for a combiner, its fitted state).

The modules, by concern: :mod:`~proctor.gate.verdicts` (verdict keys, suspicions, the raw rules,
costs), :mod:`~proctor.gate.calibration` (cuts, thresholds per (domain, level)),
:mod:`~proctor.gate.combiners` (calibrated combiners) and :mod:`~proctor.gate.policies` (the
decision on a report). Import the names from ``proctor.gate``.
"""

from __future__ import annotations

from proctor.gate.calibration import (
    Cut,
    GateThreshold,
    calibrate,
    cut_for,
    min_calibration_n,
    threshold_for,
)
from proctor.gate.combiners import COMBINERS, Combiner, fit_combiner
from proctor.gate.policies import Decision, decide
from proctor.gate.verdicts import (
    COMBINED,
    NOT_MONITORS,
    RULES,
    GatedEpisode,
    GatedVerdict,
    combine,
    episode_keys,
    reviewed,
    suspicion,
    suspicions,
    verdict_costs,
    verdict_key,
)

__all__ = [
    "COMBINED",
    "COMBINERS",
    "NOT_MONITORS",
    "RULES",
    "Combiner",
    "Cut",
    "Decision",
    "GateThreshold",
    "GatedEpisode",
    "GatedVerdict",
    "calibrate",
    "combine",
    "cut_for",
    "decide",
    "episode_keys",
    "fit_combiner",
    "min_calibration_n",
    "reviewed",
    "suspicion",
    "suspicions",
    "threshold_for",
    "verdict_costs",
    "verdict_key",
]
