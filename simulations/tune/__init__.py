"""Policy tuning on named traces: variants of a policy, the closed loop, the selection rule.

``lws-autoscaler tune`` (``autoscaler.cli.tune``) reproduces the tuning tables of
``docs/engine.md``: each variant of the policy runs through
:func:`simulations.closedloop.run` on every named trace, and the rule of the docs
picks the winner (it must reach the SLO target on every gate trace; then the best
attainment on the score trace wins, and the fewest GPU-hours break ties).
"""
