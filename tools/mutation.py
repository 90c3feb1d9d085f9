"""Mutation testing: which small changes to a module its tests do not notice.

A test suite is only as good as the changes it catches. This script makes one small
change ("mutant") at a time to one module: a comparison flipped (``<`` to ``<=``, ``==``
to ``!=``), an operator swapped (``+`` to ``-``, ``*`` to ``/``), a number moved by one,
``min`` for ``max``, ``and`` for ``or``, a ``not`` dropped, an ``if`` negated, ``True``
for ``False``: and runs the tests against each. A mutant the tests pass on has
*survived*: either it is equivalent (``up >= current`` for ``up > current`` where the
two branches return the same number when they are equal) or the tests have a gap.

Run it from the repository root, e.g.::

    .venv/bin/python tools/mutation.py autoscaler/engine/tolerance.py \\
        --tests tests/engine/test_tolerance.py --confirm tests/engine

Each mutant is written into a copy of the repository in a temporary folder (the working
tree is never changed, and an interrupted run leaves nothing behind); the tests run
there with ``pytest -x``: first ``--tests`` (the module's own, fast), then, for a mutant
those miss, ``--confirm`` (a wider suite). It prints one line per mutant (KILLED,
SURVIVED or TIMEOUT, a timeout counting as caught) and the score; ``--lines 30-45``
keeps the mutants of those lines. Docstrings and annotations are never mutated. Expect
about 3 s a mutant the fast tests catch and the wider suite's time for each survivor.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_SWAPPED_COMPARISONS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}  # fmt: skip
_SWAPPED_OPERATORS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
}  # fmt: skip
_MIN_MAX = {"min": "max", "max": "min"}
# What the copy of the repository leaves out: environments, caches, Git's objects.
_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".*_cache", ".hypothesis", "*.egg-info"
)


@dataclass(frozen=True)
class Mutant:
    """One changed copy of a module: ``line`` of the original, what changed, the source."""

    line: int
    description: str
    source: str


def _left_alone(tree: ast.AST) -> set[int]:
    """The ids of the nodes of docstrings and annotations: changing them tests nothing."""
    nodes: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                nodes.append(body[0].value)
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            nodes.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            nodes.append(node.returns)
    return {id(sub) for node in nodes for sub in ast.walk(node)}


def _drop_not(tree: ast.AST, negation: ast.AST) -> None:
    """Put the operand of ``negation`` in its place, wherever ``tree`` holds it."""
    assert isinstance(negation, ast.UnaryOp)
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is negation:
                setattr(parent, field, negation.operand)
            elif isinstance(value, list):
                value[:] = [negation.operand if item is negation else item for item in value]


Apply = Callable[[ast.AST, ast.AST], None]
"""Makes a change to (the copied tree, its copy of the node)."""


def _mutation(node: ast.AST, operand: int) -> tuple[str, Apply] | None:
    """What changing ``node`` means (``operand``: which comparison of a chain) and how
    to make that change in a copy, or None when this kind of node has no mutation. The
    original is left alone, so only the nodes that mutate cost a copy of the tree."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return "not dropped", _drop_not
    if isinstance(node, ast.Compare) and type(node.ops[operand]) in _SWAPPED_COMPARISONS:
        old, new = type(node.ops[operand]), _SWAPPED_COMPARISONS[type(node.ops[operand])]
        return f"{old.__name__} -> {new.__name__}", lambda _, copied: _set_op(copied, operand, new)
    if isinstance(node, ast.BinOp) and type(node.op) in _SWAPPED_OPERATORS:
        old_op, new_op = type(node.op), _SWAPPED_OPERATORS[type(node.op)]
        return f"{old_op.__name__} -> {new_op.__name__}", lambda _, c: setattr(c, "op", new_op())
    if isinstance(node, ast.BoolOp):
        flipped = ast.Or if isinstance(node.op, ast.And) else ast.And
        return "and <-> or", lambda _, copied: setattr(copied, "op", flipped())
    if isinstance(node, ast.Constant) and isinstance(node.value, bool | int | float):
        value = not node.value if isinstance(node.value, bool) else node.value + 1
        return f"{node.value!r} -> {value!r}", lambda _, c: setattr(c, "value", value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _MIN_MAX:
        name = _MIN_MAX[node.func.id]
        return f"{node.func.id} -> {name}", lambda _, c: setattr(c, "func", ast.Name(name))
    if isinstance(node, ast.If):
        return "if negated", lambda _, c: setattr(c, "test", ast.UnaryOp(ast.Not(), c.test))
    return None


def _set_op(compare: ast.AST, operand: int, op: type[ast.cmpop]) -> None:
    assert isinstance(compare, ast.Compare)
    compare.ops[operand] = op()


def mutants(source: str) -> Iterator[Mutant]:
    """Every single-change mutant of ``source``, in the order of an AST walk."""
    tree = ast.parse(source)
    skipped = _left_alone(tree)
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skipped:
            continue
        for operand in range(len(node.ops) if isinstance(node, ast.Compare) else 1):
            mutation = _mutation(node, operand)
            if mutation is None:
                continue
            description, apply = mutation
            changed = copy.deepcopy(tree)  # the same walk order: node ``index`` is this one
            apply(changed, list(ast.walk(changed))[index])
            yield Mutant(getattr(node, "lineno", 0), description, ast.unparse(changed))


def _copy_repository(root: Path, into: Path) -> Path:
    """A copy of ``root`` under ``into``, with ``../shared`` linked beside it as the
    project's tests expect it."""
    copied = into / root.name
    shutil.copytree(root, copied, ignore=_NOT_COPIED, symlinks=True)
    shared = root.parent / "shared"
    if shared.exists():
        (into / "shared").symlink_to(shared.resolve())
    return copied


def _environment(copied: Path, module: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(copied), PYTHONDONTWRITEBYTECODE="1")
    # The package may be installed in editable mode from the working tree: the copy must
    # come first, or every mutant would be tested against the unchanged code.
    name = ".".join(module.with_suffix("").parts)
    find = "import importlib.util, sys; print(importlib.util.find_spec(sys.argv[1]).origin)"
    found = subprocess.run(
        [sys.executable, "-c", find, name],
        cwd=copied, env=env, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if not found or not Path(found).resolve().is_relative_to(copied.resolve()):
        raise SystemExit(f"{name} is not imported from the copy ({found or 'not found'})")
    return env


def _caught(copied: Path, env: dict[str, str], tests: Sequence[str], timeout: float) -> str:
    """KILLED, SURVIVED or TIMEOUT for one suite run against the mutant in ``copied``."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    # Hypothesis saves the examples that failed and replays them first: one saved while
    # an earlier mutant was in place fails every later run, mutant or not.
    shutil.rmtree(copied / ".hypothesis", ignore_errors=True)
    try:
        result = subprocess.run(
            command, cwd=copied, env=env, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "TIMEOUT"
    # 1: a test failed; 2-4: collection or usage errors (a mutant that breaks an import).
    return "SURVIVED" if result.returncode in (0, 5) else "KILLED"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", type=Path, help="the module, e.g. autoscaler/engine/zero.py")
    parser.add_argument("--tests", nargs="+", required=True, help="the fast tests, run first")
    parser.add_argument("--confirm", nargs="*", default=[], help="a wider suite for survivors")
    parser.add_argument("--lines", default=None, help="only mutants of lines LO-HI")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a suite run")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    root = Path.cwd()
    source = (root / args.module).read_text()
    lo, hi = (int(n) for n in args.lines.split("-")) if args.lines else (1, sys.maxsize)
    chosen = [m for m in mutants(source) if lo <= m.line <= hi]
    lines = source.splitlines()
    print(f"{args.module}: {len(chosen)} mutants", flush=True)
    outcomes: dict[str, int] = {"KILLED": 0, "SURVIVED": 0, "TIMEOUT": 0}
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        copied = _copy_repository(root, Path(scratch))
        env = _environment(copied, args.module)
        # Tests that fail without any mutant would mark every mutant killed: a 100% that
        # measures nothing.
        if _caught(copied, env, args.tests, args.timeout) != "SURVIVED":
            raise SystemExit(f"the tests fail (or time out) on the unchanged {args.module}")
        target = copied / args.module
        for mutant in chosen:
            target.write_text(mutant.source)
            started = time.monotonic()
            outcome = _caught(copied, env, args.tests, args.timeout)
            if outcome == "SURVIVED" and args.confirm:
                outcome = _caught(copied, env, args.confirm, args.timeout)
            outcomes[outcome] += 1
            code = lines[mutant.line - 1].strip() if 0 < mutant.line <= len(lines) else ""
            print(
                f"{outcome:8} {mutant.line:4} {mutant.description:18} "
                f"{time.monotonic() - started:5.1f}s | {code[:90]}",
                flush=True,
            )
    caught = outcomes["KILLED"] + outcomes["TIMEOUT"]
    score = caught / len(chosen) if chosen else 1.0
    print(
        f"{args.module}: {caught} of {len(chosen)} caught ({score:.0%}), "
        f"{outcomes['SURVIVED']} survived"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
