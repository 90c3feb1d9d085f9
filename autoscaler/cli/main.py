"""Entry point of ``lws-autoscaler``: builds the argument parser from the subcommand
modules and turns every :class:`~autoscaler.errors.AutoscalerError` into a one-line
message and exit code 2, never a traceback.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from autoscaler import __version__
from autoscaler.errors import AutoscalerError

# Subcommand modules under autoscaler.cli, in the order `--help` lists them.
SUBCOMMANDS = (
    "validate",
    "schema",
    "simulate",
    "hpa-conformance",
    "benchmark",
    "tune",
    "serve",
    "explain",
    "record",
)


def _drop_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's own flush at exit does not fail
    again (and print a traceback-like "Exception ignored" after our one line)."""
    # Not a real file (a test's capture): nothing will be flushed at exit either.
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def write_stdout(text: str) -> None:
    """Write ``text`` to stdout now. A failure other than a closed pipe (a full disk,
    ``> /dev/full``) is an AutoscalerError: one line and exit 2, never a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        _drop_stdout()
        raise AutoscalerError(f"cannot write the output: {exc.strerror or exc}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lws-autoscaler",
        description="LLM-aware autoscaling for LeaderWorkerSet inference groups.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"autoscaler.cli.{name.replace('-', '_')}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
        write_stdout("")  # flushed here, where a failure can still be reported
    except AutoscalerError as exc:
        print(f"lws-autoscaler {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more to say to it.
        _drop_stdout()
        return 141
    except KeyboardInterrupt:
        # After a progress bar's carriage return, start a line of its own.
        print(f"\nlws-autoscaler {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # What no command turned into an AutoscalerError of its own: most often its
        # print() to a full disk (unbuffered output, PYTHONUNBUFFERED=1 as in the
        # image, fails at once rather than at the final flush). One line, never a
        # traceback; stdout goes to /dev/null so that the exit's flush stays quiet.
        _drop_stdout()
        where = f" {exc.filename}" if exc.filename else ""
        print(f"lws-autoscaler {args.command}:{where} {exc.strerror or exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
