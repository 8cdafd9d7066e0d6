"""What the staged book needs beyond its pages: MathJax served from the book itself, the repository settings
(launch buttons and source links, only when a repository URL is given) and the command-line help the
"Re-running" chapter shows.

Everything here edits the *staged* source (``<out>/src``), never the repository tree:

- **MathJax, offline.** The MathJax 3 files come from the PyPI package ``sphinx-mathjax-offline`` (pinned in
  requirements.txt, in the ``book`` extra): :func:`copy_mathjax` copies them to ``<stage>/_vendor/mathjax/``
  (not ``_static``: Jupyter Book adds every ``.js`` file under ``_static`` to every page), :func:`stage_config`
  adds that folder to ``html_static_path`` (so the HTML has ``_static/mathjax/``) and points Sphinx's
  ``mathjax_path`` at the copy: no page loads a script from the network.
- **Repository links.** With a repository URL (``build_book(repository_url=...)``, ``$HASHBOOK_REPOSITORY_URL`` or
  ``make book REPOSITORY_URL=...``) the staged ``_config.yml`` gets Jupyter Book's ``repository`` section, the
  repository / source / edit buttons, and Binder (GitHub, GitLab) and Colab (GitHub) launch buttons on notebook
  pages; :mod:`hashlib_core.book.sphinx_links` points the generated run pages at ``notebooks/<method>.ipynb``.
  Without a URL nothing links anywhere outside the book.
- **CLI help.** :func:`write_cli_help` writes ``python -m hashlib_core run <method> --help`` to
  ``<stage>/book/generated/`` for the Re-running chapter's ``literalinclude``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

MATHJAX_PACKAGE = "sphinx-mathjax-offline"
MATHJAX_PIN = "sphinx-mathjax-offline==0.0.2"
#: the MathJax 3 component the pages load (the one Sphinx loads from a CDN by default)
MATHJAX_ENTRY = "tex-mml-chtml.js"
#: where the copy lands, relative to the built HTML's ``_static`` folder
MATHJAX_DIR = "mathjax"
#: staged folder of vendored static files (added to ``html_static_path``; its contents land in ``_static``)
VENDOR_DIR = "_vendor"
#: other combined components and the SVG output, never loaded by the pages (left out of the copy)
_MATHJAX_UNUSED = ("tex-chtml.js", "tex-chtml-full.js", "tex-chtml-full-speech.js", "tex-svg.js",
                   "tex-svg-full.js", "tex-mml-svg.js", "mml-chtml.js", "mml-svg.js", "node-main.js", "svg", "svg.js")

REPOSITORY_ENV = "HASHBOOK_REPOSITORY_URL"
BRANCH_ENV = "HASHBOOK_REPOSITORY_BRANCH"
PROVIDERS = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}
BINDER_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"
LINKS_EXTENSION = "hashlib_core.book.sphinx_links"
#: the method whose ``run --help`` the Re-running chapter shows
HELP_METHOD = "dchn"


def _book_error(message: str):
    from .build import BookError

    return BookError(message)


# ---------------------------------------------------------------------------------------------- MathJax

def mathjax_source() -> Path:
    """The folder of MathJax 3 files inside the installed ``sphinx-mathjax-offline`` package; a
    :class:`~hashlib_core.book.BookError` saying how to install it when it is missing."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(MATHJAX_PACKAGE)
    except metadata.PackageNotFoundError:
        raise _book_error(f"MathJax for the offline book comes from the PyPI package {MATHJAX_PACKAGE!r}, which "
                          f"is not installed: pip install '{MATHJAX_PIN}' (it is in requirements.txt and the "
                          f"'book' extra)") from None
    folder = Path(distribution.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (folder / MATHJAX_ENTRY).is_file():
        raise _book_error(f"{folder}: the installed {MATHJAX_PACKAGE} has no {MATHJAX_ENTRY} (reinstall "
                          f"'{MATHJAX_PIN}')")
    return folder


def copy_mathjax(static_dir: str | os.PathLike) -> Path:
    """Copy MathJax (the entry component, its input/output/ui/a11y pieces and fonts) to
    ``<static_dir>/mathjax``; return the entry file's path."""
    dest = Path(static_dir) / MATHJAX_DIR
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(mathjax_source(), dest, ignore=shutil.ignore_patterns(*_MATHJAX_UNUSED, "__pycache__"))
    return dest / MATHJAX_ENTRY


# ---------------------------------------------------------------------------------------------- repository

def repository_url_from_env(value: str | None = None) -> str | None:
    """``value`` when given, else ``$HASHBOOK_REPOSITORY_URL``; empty means none."""
    value = os.environ.get(REPOSITORY_ENV, "") if value is None else value
    return value.strip() or None


def check_repository_url(url: str) -> tuple[str, str]:
    """``(url without a trailing slash or .git, provider)`` for an https URL of a repository on GitHub, GitLab or
    Bitbucket (``https://github.com/ORG/REPO``); ``BookError`` naming the setting otherwise."""
    parts = urlsplit(url.strip())
    path = parts.path.strip("/").removesuffix(".git")
    provider = PROVIDERS.get(parts.netloc.lower())
    if parts.scheme != "https" or provider is None or len(path.split("/")) != 2 or parts.query or parts.fragment:
        raise _book_error(f"repository URL {url!r} ({REPOSITORY_ENV} / make book REPOSITORY_URL=...): expected "
                          f"https://<{' | '.join(PROVIDERS)}>/ORG/REPO")
    return f"https://{parts.netloc.lower()}/{path}", provider


def repository_settings(url: str | None, branch: str | None = None) -> dict:
    """The ``_config.yml`` entries that add launch buttons and source links for the repository at ``url``
    (``{}`` for ``None``: the book then links nowhere outside itself). ``branch`` defaults to
    ``$HASHBOOK_REPOSITORY_BRANCH`` or ``main``."""
    if url is None:
        return {}
    url, provider = check_repository_url(url)
    branch = branch or os.environ.get(BRANCH_ENV, "").strip() or "main"
    launch = {"notebook_interface": "classic", "thebe": False}
    if provider in ("github", "gitlab"):
        launch["binderhub_url"] = BINDER_URL
    if provider == "github":
        launch["colab_url"] = COLAB_URL
    return {"repository": {"url": url, "path_to_book": "", "branch": branch},
            "html": {"use_repository_button": True, "use_edit_page_button": True, "use_issues_button": False},
            "launch_buttons": launch,
            "sphinx": {"extra_extensions": [LINKS_EXTENSION]}}


def _merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        elif isinstance(value, list) and isinstance(base.get(key), list):
            base[key] = [*base[key], *[v for v in value if v not in base[key]]]
        else:
            base[key] = value
    return base


def stage_config(config_path: str | os.PathLike, *, repository_url: str | None = None,
                 branch: str | None = None) -> dict:
    """Rewrite the staged ``_config.yml`` at ``config_path``: ``mathjax_path`` to the book's own copy and
    ``html_static_path`` = the stage's ``_static`` (when present) and ``_vendor``, plus
    :func:`repository_settings` when ``repository_url`` is given. Returns the new configuration."""
    import yaml

    from ..records.io import atomic_write_text

    path = Path(config_path)
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    static = [name for name in ("_static", VENDOR_DIR) if (path.parent / name).is_dir()]
    _merge(config, {"sphinx": {"config": {"mathjax_path": f"{MATHJAX_DIR}/{MATHJAX_ENTRY}",
                                          "html_static_path": static}},
                    "exclude_patterns": [f"{VENDOR_DIR}/**"]})
    _merge(config, repository_settings(repository_url, branch))
    atomic_write_text(path, "# staged by hashlib_core.book.assets (MathJax served from the book; repository links "
                            "only when a URL is set)\n" + yaml.safe_dump(config, sort_keys=False))
    return config


# ---------------------------------------------------------------------------------------------- CLI help

def cli_help(method: str = HELP_METHOD, width: int = 100) -> str:
    """The text of ``python -m hashlib_core run <method> --help`` at ``width`` columns."""
    from .. import cli

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
            cli.main(["run", method, "--help"])
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return buffer.getvalue()


def write_cli_help(stage: str | os.PathLike, method: str = HELP_METHOD) -> Path:
    """Write :func:`cli_help` to ``<stage>/book/generated/cli-run-<method>-help.txt``; return the path."""
    from ..records.io import atomic_write_text

    return atomic_write_text(Path(stage) / "book" / "generated" / f"cli-run-{method}-help.txt", cli_help(method))


# ---------------------------------------------------------------------------------------------- all of it

def stage_assets(stage: str | os.PathLike, *, repository_url: str | None = None) -> dict:
    """Prepare the staged source ``stage`` (after ``_config.yml``, ``_toc.yml`` and ``book/`` were copied there):
    MathJax, the staged config and the CLI help. ``repository_url=None`` reads ``$HASHBOOK_REPOSITORY_URL``.
    Returns what was done (for ``build-info.json``)."""
    stage = Path(stage)
    url = repository_url_from_env(repository_url)
    if url is not None:
        url = check_repository_url(url)[0]
    entry = copy_mathjax(stage / VENDOR_DIR)
    stage_config(stage / "_config.yml", repository_url=url)
    help_file = write_cli_help(stage)
    return {"mathjax": str(entry.relative_to(stage)), "repository_url": url,
            "cli_help": str(help_file.relative_to(stage))}


__all__ = ["MATHJAX_PACKAGE", "MATHJAX_ENTRY", "mathjax_source", "copy_mathjax", "repository_url_from_env",
           "check_repository_url", "repository_settings", "stage_config", "cli_help", "write_cli_help",
           "stage_assets"]
