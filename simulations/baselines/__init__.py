"""The autoscalers the closed-loop benchmark compares, each a
:class:`~simulations.closedloop.Controller`: ours (the engine behind the chart's HPA),
the published recipes (seed HPA, KEDA, Knative KPA), static provisioning and the oracle.
"""
