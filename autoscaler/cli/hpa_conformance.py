"""``lws-autoscaler hpa-conformance FILE.json``: run upstream HPA controller test cases
through the simulator's HPA emulation; print each failing case with expected and actual,
end with ``N passed, M failed``, exit 1 if any case failed or cannot be run. A file with
no cases is exit 1 too: an empty (or emptied) file must not pass a CI job."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "hpa-conformance",
        help="check the HPA emulation against upstream controller test cases",
        description="Run HPA controller test cases (the format of shared/reference/"
        "hpa-cases.json) through the emulator used by `simulate`. Prints every failing "
        "case with its expected and actual outcome and a final 'N passed, M failed' line; "
        "exit status 1 when any case fails or cannot be run, or the file holds no cases.",
    )
    parser.add_argument("file", metavar="FILE.json", help="a JSON list of test cases")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simulations.hpa.conformance import format_report, load_cases, run_cases

    cases = load_cases(args.file)
    if not cases:
        print(
            f"lws-autoscaler hpa-conformance: {args.file} holds no cases (an empty list "
            "checks nothing)",
            file=sys.stderr,
        )
        return 1
    results = run_cases(cases)
    print(format_report(results))
    return 0 if all(r.passed for r in results) else 1
