"""The package layout (ARCHITECTURE.md): one job per package, imports pointing one way, thin notebooks.

Read from the source with :mod:`ast` (every import statement, also those inside functions), so nothing is imported
and a violation names the file and line.
"""

import ast
from pathlib import Path

import nbformat
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hashlib_core"
REPO = PACKAGE.parent

#: package -> hashlib_core packages it must never import (directly or inside a function)
FORBIDDEN = {
    "records": {"report", "grid", "book", "cli"},
    "report": {"grid", "book", "cli"},
    "grid": {"report", "book", "cli"},
    "methods": {"report", "grid", "book", "cli"},
    **{low: {"methods", "report", "grid", "book", "cli"}
       for low in ("metrics", "data", "models", "losses", "baselines", "train", "features")},
}
#: the lower packages use the run folder's atomic writes and hashes (records.io) and nothing else of records
LOW = ("metrics", "data", "models", "losses", "baselines", "train", "features")
DRAWING = ("pandas", "matplotlib")
MAX_CELL_LINES = 10


def _imports(path: Path):
    """``(line, absolute module name, inside a function)`` of every import in ``path``."""
    package = ["hashlib_core", *path.relative_to(PACKAGE).with_suffix("").parts][:-1]  # what "." refers to
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(child) for f in functions for child in ast.walk(f) if child is not f}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
                names = [prefix] if node.module else [f"{prefix}.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        else:
            continue
        found += [(node.lineno, name, id(node) in nested) for name in names]
    return found



def _modules(package: str):
    folder = PACKAGE / package
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{package}.py"]


def test_the_parser_sees_relative_and_nested_imports():
    sample = PACKAGE / "report" / "dchn.py"
    names = {name for _, name, _ in _imports(sample)}
    assert "hashlib_core.methods.dchn" in names and "hashlib_core.records.runs" in names  # a nested relative import
    assert any(inside for _, name, inside in _imports(sample) if name == "hashlib_core.records.runs")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    bad = []
    for path in _modules(package):
        for line, name, inside in _imports(path):
            parts = name.split(".")
            if parts[0] != "hashlib_core" or len(parts) < 2:
                continue
            target = parts[1]
            if target in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
            if package in LOW and target == "records" and parts[2:3] != ["io"]:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name} (lower packages use records.io only)")
            if package == "records" and target == "methods" and not inside:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name} at module level (methods imports "
                           f"records; records may look a method up only inside a function)")
    assert not bad, "\n".join(bad)


def test_methods_neither_tabulate_nor_draw():
    bad = [f"{path.relative_to(REPO)}:{line} imports {name}" for path in _modules("methods")
           for line, name, _ in _imports(path) if name.split(".")[0] in DRAWING]
    assert not bad, "tables and figures belong in hashlib_core/report/:\n" + "\n".join(bad)


def test_records_holds_the_run_folder_only():
    modules = {p.stem for p in (PACKAGE / "records").glob("*.py")}
    assert modules == {"__init__", "io", "run", "manifest", "references", "runs"}


def _code_cells(path: Path):
    notebook = nbformat.read(path, as_version=4)
    return [(i, c) for i, c in enumerate(notebook.cells)
            if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]


CHAPTERS = sorted((REPO / "book" / "chapters").glob("*.ipynb"))
RUN_NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_cells_are_short_calls_into_report(path):
    long = [f"cell {i}: {len(c.source.splitlines())} lines" for i, c in _code_cells(path)
            if len(c.source.splitlines()) > MAX_CELL_LINES]
    assert not long, f"{path.name}: code cells over {MAX_CELL_LINES} lines (move the logic into hashlib_core.report):" \
                     f" {long}"
    assert not any("import pandas" in c.source or "groupby(" in c.source for _, c in _code_cells(path)), \
        f"{path.name}: pandas plumbing in a cell; tables are built in hashlib_core.report"


@pytest.mark.parametrize("path", RUN_NOTEBOOKS, ids=lambda p: p.name)
def test_run_notebook_cells_are_short(path):
    # the run() call passes every parameter by name (a test of its own), so count statements, not lines
    long = [f"cell {i}: {len(ast.parse(c.source).body)} statements" for i, c in _code_cells(path)
            if len(ast.parse(c.source).body) > MAX_CELL_LINES]
    assert not long, f"{path.name}: code cells over {MAX_CELL_LINES} statements: {long}"


def test_the_cell_checks_can_fail(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(MAX_CELL_LINES + 1)))]
    path = tmp_path / "long.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(AssertionError):
        test_chapter_cells_are_short_calls_into_report(path)
    with pytest.raises(AssertionError):
        test_run_notebook_cells_are_short(path)
