"""The committed book configuration: chapter order, Jupyter Book 1.x settings, environment.yml in step."""

import re
from pathlib import Path

import pytest
import yaml

from hashlib_core.book import toc_files

REPO = Path(__file__).resolve().parents[1]
CHAPTER_ORDER = ["book/intro", "book/chapters/ten_minutes", "book/chapters/protocols", "book/chapters/datasets",
                 "book/chapters/dchn", "book/runs/dchn", "book/chapters/djsrh", "book/runs/djsrh",
                 "book/chapters/hybridhash", "book/runs/hybridhash", "book/chapters/overview",
                 "book/chapters/benchmark", "book/rerunning", "book/chapters/performance"]


def test_toc_lists_every_chapter_in_order():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["format"] == "jb-book"
    assert toc_files(toc) == CHAPTER_ORDER


def test_config_renders_without_executing():
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["execute"]["execute_notebooks"] == "off"  # papermill executed everything already
    assert config["only_build_toc_files"] is True


def test_chapter_templates_have_the_book_parameters():
    import nbformat

    for path in sorted((REPO / "book" / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(cells) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
        names = set(re.findall(r"^(\w+)\s*=", cells[0].source, flags=re.MULTILINE))
        assert {"profile", "runs_root", "records_root"} <= names, f"{path.name}: parameters cell has {names}"
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
            f"{path.name}: a chapter template is committed without outputs (papermill fills them)"


@pytest.mark.parametrize("notebook, method", [("dchn", "dchn"), ("dchn_new_view", "dchn"), ("djsrh", "djsrh"),
                                              ("hybridhash", "hybridhash")])
def test_method_notebooks_expose_and_pass_every_method_parameter(notebook, method):
    """A grid spec's ``params`` reach the method only if the notebook declares each one in its parameters cell and
    hands it to ``run`` by name (papermill would inject an undeclared one and the run would silently ignore it)."""
    import importlib

    import nbformat

    parameters = importlib.import_module(f"hashlib_core.methods.{method}").PARAMETERS
    nb = nbformat.read(REPO / "notebooks" / f"{notebook}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    declared = set(re.findall(r"^(\w+)\s*=", cell.source, flags=re.MULTILINE))
    crowded = [line for line in cell.source.splitlines() if line.count("=") > 1]
    assert not crowded, f"{notebook}.ipynb: papermill cannot parse a parameter line with two '=': {crowded}"
    body = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and c is not cell)
    assert set(parameters) <= declared, f"{notebook}.ipynb does not declare {sorted(set(parameters) - declared)}"
    unpassed = sorted(name for name in parameters if not re.search(rf"\b{name}={name}\b", body))
    assert not unpassed, f"{notebook}.ipynb never passes {unpassed} on"


def _pins(lines):
    return sorted(line.strip().lstrip("- ").strip() for line in lines
                  if re.match(r"^\s*-?\s*[A-Za-z0-9_.\-]+==", line) and not line.strip().startswith("#"))


def test_environment_yml_mirrors_requirements_txt():
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item)
    requirements = _pins((REPO / "requirements.txt").read_text(encoding="utf-8").splitlines())
    assert sorted(pip) == requirements
    assert "python=3.11" in env["dependencies"]
