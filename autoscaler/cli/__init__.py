"""The ``lws-autoscaler`` command line: one module per subcommand, wired in ``main``."""
