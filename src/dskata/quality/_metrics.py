"""Run as a script in a limited subprocess: radon's complexity and line counts of one file,
and which public classes lack a docstring, printed as one JSON object."""

from __future__ import annotations

import ast
import json
import sys

from radon.complexity import cc_visit
from radon.raw import analyze


def _undocumented(tree: ast.Module) -> list[str]:
    return [
        n.name
        for n in tree.body
        if isinstance(n, ast.ClassDef) and not n.name.startswith("_") and not ast.get_docstring(n)
    ]


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        source = f.read()
    # Classes the kit's stub already ships undocumented (argv[2]) are not the candidate's.
    with open(sys.argv[2], encoding="utf-8") as stub:
        exempt = set(_undocumented(ast.parse(stub.read())))
    blocks = cc_visit(source)
    worst = max(blocks, key=lambda b: b.complexity, default=None)
    tree = ast.parse(source)
    undocumented = [n for n in _undocumented(tree) if n not in exempt]
    print(
        json.dumps(
            {
                "complexity": worst.complexity if worst else 0,
                "worst": worst.fullname if worst else "",
                "sloc": analyze(source).sloc,
                "undocumented": undocumented,
            }
        )
    )


if __name__ == "__main__":
    main()
