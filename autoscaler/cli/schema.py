"""``lws-autoscaler schema``: print (or write) the JSON Schema of ScalingPolicy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from autoscaler.cli.main import write_stdout
from autoscaler.output_files import write_text
from autoscaler.policy.schema import policy_json_schema_text


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of a policy document",
        description="Print the JSON Schema of a ScalingPolicy document, for editors "
        "(yaml-language-server) and CI validators.",
    )
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = policy_json_schema_text()
    if args.output:
        write_text(args.output, text)  # whole or not at all; OutputError names the file
    else:
        write_stdout(text)
    return 0
