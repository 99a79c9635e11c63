"""#17: the core does not speak FIX. No FIX tag numbers in ``oms.app`` or ``oms.domain``:
the core emits typed messages (``oms.app.messages``) and ``oms.fix.encode`` gives them tags.

Two shapes would give a tag away: a ``(tag, value)`` pair, and a field named with its tag
("Symbol (55)") in code, a string or a comment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

OMS = Path(__file__).resolve().parents[2] / "oms"
PACKAGES = (OMS / "app", OMS / "domain")
NAMED_TAG = re.compile(r"[A-Za-z] \(\d+\)")


def _modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in package.rglob("*.py"))


def _tag_pairs(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Tuple) and len(node.elts) == 2:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and type(first.value) is int:
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_covers_the_core_and_the_domain():
    names = {path.name for path in _modules()}
    assert {"core.py", "base.py", "requests.py", "broker.py", "order.py"} <= names


def test_no_tag_value_pairs_in_the_core_or_the_domain():
    assert [pair for path in _modules() for pair in _tag_pairs(path)] == []


def test_no_field_named_by_its_tag_in_the_core_or_the_domain():
    found = [f"{path.name}:{number}: {line.strip()}"
             for path in _modules()
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if NAMED_TAG.search(line)]
    assert found == []


def test_the_checks_would_see_a_tag():
    # the two shapes, as the core used to write them
    assert NAMED_TAG.search('return "Symbol (55) is required"')
    tree = ast.parse("fields = [(37, order.order_id)]")
    assert any(isinstance(n, ast.Tuple) and isinstance(n.elts[0], ast.Constant)
               for n in ast.walk(tree))
