"""Simulators driving the real engine on a manual clock: dry-run replay, closed-loop benchmark."""
