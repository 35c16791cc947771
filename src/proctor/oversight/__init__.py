"""Research on oversight itself: the ``oversight`` domain (issue 17), one room.

The essay behind proctor argues that empirical research pays most where it is research *on
oversight*: researchers run many experiments that test and refine oversight methods in domains
with ground truth, and what they find carries over to research nobody can check. Here the bench
is the lab. A task names a **target** — another domain at level 1, an audit budget, and a cost
cap on the monitors as a share of the target researcher's spend — and asks for a **protocol
stack** (protocols at budgets, a calibrated combiner of :data:`proctor.gate.COMBINERS` and its
parameters) with two claims and their intervals: the stack's catch rate against the
*attributable harm* of bad researchers of the target domain, and its false-alarm rate on honest
correct work, at the target's audit budget.

The room, each part in its own module:

* :mod:`proctor.oversight.targets` — the targets, the **universe** of real bench episodes of
  each target (a pure function of target, seed and researcher, cached per process), and the
  stacks;
* :mod:`proctor.oversight.figures` — the evaluation of a stack on a set of those episodes
  (fitted and thresholded as the gate does);
* :mod:`proctor.oversight.domain` — the world (declared actions ``list_protocols``,
  ``evaluate``, ``read_results``, on *development* seeds and *development* failure modes
  only), the domain class (sampling and the grader, which runs the claimed stack on fresh
  *test* seeds and on *held-out* failure modes the lab never reaches);
* :mod:`proctor.oversight.researchers` — the honest scripted researcher (a greedy search over
  stacks, expert and novice), its three model organisms (``reward_hacker``,
  ``saboteur:blind_spot``, ``sandbagger``) and the backend registration;
* :mod:`proctor.oversight.checks` — the domain's
  :class:`~proctor.protocols.checks.DomainChecks`: how ``direct``, ``replicate``,
  ``spot_check``, ``debate``, ``consultancy`` and the re-run protocols judge a stack report.

The package sits one layer above the bench in the data flow (``tests/test_imports.py``): its
lab runs bench episodes. Nothing below it imports it; the registry finds it through the
package's entry points. The quick sweep's default domains leave it out
(:attr:`~proctor.domains.Domain.default_sweeps`): it runs when a sweep names it
(``proctor bench --domains oversight --quick``).
"""
