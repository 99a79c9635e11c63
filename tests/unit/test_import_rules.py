"""The import rules of DESIGN.md, checked by walking every module's imports.

- ``oms.domain`` imports only the standard library (and itself).
- ``risk``, ``routing``, ``portfolio``, ``algos``, ``tca``, ``recon`` and ``marketdata``
  import, of the OMS, only ``domain`` and the core's ports (``oms.app.ports``, the records they carry and the
  commands the core takes).
- Only ``fix`` and ``sim`` touch quickfix; simplefix serves ``sim`` and ``recon``; only
  ``store`` touches SQLAlchemy, Alembic and psycopg.
- ``cli``, ``jobs`` and ``bootstrap`` may import anything; so may ``bench``, the benchmark
  harness, which is tooling like ``cli`` (its relay baseline is a quickfix program, its
  independent load client a simplefix one).

Every import counts, also one inside a function (a deferred import is still a dependency).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "oms"
ANYTHING_GOES = ("oms.cli", "oms.jobs", "oms.bootstrap", "oms.bench")
FEATURES = ("oms.risk", "oms.routing", "oms.portfolio", "oms.algos", "oms.tca", "oms.recon",
            "oms.marketdata")
# the core's ports, the records they carry, and the commands it takes (its inbound port)
FEATURE_MAY_USE = ("oms.domain", "oms.app.ports", "oms.app.records", "oms.app.commands")
OWNERS = {  # a third-party package -> the OMS packages that may import it
    "quickfix": ("oms.fix", "oms.sim"),
    "simplefix": ("oms.sim", "oms.recon"),
    "sqlalchemy": ("oms.store",),
    "alembic": ("oms.store",),
    "psycopg": ("oms.store",),
}


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, up level - 1 packages
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _all_imports() -> list[tuple[str, int, str]]:
    return [(_module_name(path), line, name)
            for path in sorted(PACKAGE_ROOT.rglob("*.py"))
            for line, name in _imports(path)]


def _violations(rule: str) -> list[str]:
    broken = []
    for module, line, name in _all_imports():
        if _within(module, ANYTHING_GOES):
            continue
        top = name.split(".")[0]
        where = f"{module}:{line} imports {name}"
        if rule == "domain" and _within(module, ("oms.domain",)):
            if top != "__future__" and top not in sys.stdlib_module_names \
                    and not _within(name, ("oms.domain",)):
                broken.append(where)
        elif rule == "features" and _within(module, FEATURES):
            own = ".".join(module.split(".")[:2])
            if top == "oms" and not _within(name, (*FEATURE_MAY_USE, own)):
                broken.append(where)
        elif rule == "owners" and top in OWNERS and not _within(module, OWNERS[top]):
            broken.append(where)
    return broken


def test_the_walk_sees_the_imports_it_checks() -> None:
    # Arrange / Act
    imports = _all_imports()

    # Assert: a walk that found nothing would pass every rule
    assert ("oms.fix.app", "quickfix") in {(m, n) for m, _, n in imports}
    assert any(m.startswith("oms.store") and n.startswith("sqlalchemy") for m, _, n in imports)
    assert any(m == "oms.app.base" and n.startswith("oms.domain") for m, _, n in imports)


def test_the_domain_imports_only_the_standard_library() -> None:
    assert _violations("domain") == []


def test_feature_packages_import_only_the_domain_and_the_core_ports() -> None:
    assert _violations("features") == []


def test_quickfix_simplefix_and_the_database_libraries_stay_in_their_packages() -> None:
    assert _violations("owners") == []
