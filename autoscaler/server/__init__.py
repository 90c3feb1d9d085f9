"""The external metrics API server (``external.metrics.k8s.io/v1beta1``) and its control loop.

Modules, one responsibility each: ``app`` (FastAPI factory), ``discovery`` (discovery,
OpenAPI stubs, health), ``external_metrics`` (the metric read and the debug view),
``series`` (what is published), ``store`` (latest decisions), ``quantity`` and
``selectors`` (Kubernetes wire formats), ``status`` (error objects), ``middleware``
(metrics and the catch-all), ``authn``/``authz``/``kube_reviews``/``identity``/
``ttl_cache`` (delegated auth), ``tls`` (certificates), ``loop``/``policy_watch``/
``clock`` (the control loop), ``telemetry`` (the server's own metrics), ``settings``,
``sources_factory``, ``demo`` and ``runner`` (process assembly). See docs/api.md and
docs/security.md.
"""
