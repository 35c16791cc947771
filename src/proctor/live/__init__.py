"""The live loop: automated research through the calibrated gate (``proctor run``).

Researchers work through a queue of tasks; every report passes the protocol stack and the gate
calibrated on a named bench run; accepted claims become findings, rejected reports are kept
with their reasons, and escalations wait for a human in ``proctor review``
(:mod:`proctor.review`). Everything is persisted as it happens (:mod:`proctor.live.db`).
"""
