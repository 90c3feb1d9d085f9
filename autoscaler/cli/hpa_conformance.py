"""``lws-autoscaler hpa-conformance FILE.json``: run upstream HPA controller test cases
through the simulator's HPA emulation; print each failing case with expected and actual,
end with ``N passed, M failed``, exit 1 if any case failed."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "hpa-conformance",
        help="check the HPA emulation against upstream controller test cases",
        description="Run HPA controller test cases (the format of shared/reference/"
        "hpa-cases.json) through the emulator used by `simulate`. Prints every failing "
        "case with its expected and actual outcome and a final 'N passed, M failed' line; "
        "exit status 1 when any case fails or cannot be run.",
    )
    parser.add_argument("file", metavar="FILE.json", help="a JSON list of test cases")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simulations.hpa.conformance import format_report, load_cases, run_cases

    results = run_cases(load_cases(args.file))
    print(format_report(results))
    return 0 if all(r.passed for r in results) else 1
