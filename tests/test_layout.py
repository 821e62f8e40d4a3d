"""The tests' own layout: no test module imports from another. Fixtures live in a
conftest.py (tests/, tests/e2e/, tests/browser/), which pytest finds by itself;
helpers shared by several test modules live in helper modules beside them."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_names(path: Path) -> set[str]:
    """Every module an import in the file names, `from pkg import mod` as pkg.mod too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_no_test_module_imports_from_another():
    offenders = {
        f"{path.relative_to(TESTS)}: {name}"
        for path in TESTS.rglob("*.py")
        for name in imported_names(path)
        if any(part.startswith("test_") for part in name.split("."))
    }
    assert not offenders, sorted(offenders)
