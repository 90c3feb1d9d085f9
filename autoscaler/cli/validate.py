"""``lws-autoscaler validate PATH...``: check policy files, one ``file:line: field: message``
line per problem; exit 1 on any problem, 2 on a usage or system error (the output cannot
be written). Meant as a CI step in a GitOps repository."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autoscaler.cli.main import write_stdout
from autoscaler.policy.loader import collect_policies


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate policy files or folders",
        description="Validate ScalingPolicy files; every problem is reported as "
        "file:line: field: message. Exit status 1 when any file is invalid, 2 on a usage "
        "or system error.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="policy files or folders")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    policies, issues = collect_policies(args.paths)
    for issue in issues:
        print(issue, file=sys.stderr)
    if issues:
        files = len({i.file for i in issues})
        print(f"{len(issues)} problem(s) in {files} file(s)", file=sys.stderr)
        return 1
    if not args.quiet:
        write_stdout(
            "".join(
                f"{loaded.file}:{loaded.line}: ok: {loaded.policy.name} -> LWS {loaded.key}\n"
                for loaded in policies
            )
        )
    return 0
