"""The book build: run a profile's grid (:mod:`hashlib_core.grid`), stage ``_config.yml``, ``_toc.yml`` and
``book/``, execute the chapter templates (which read records through :mod:`hashlib_core.report`) and render HTML
with Jupyter Book 1.x (:mod:`.build`). ``python -m hashlib_core.book --profile P`` or
``python -m hashlib_core book --profile P``.
"""

from .build import BookError, build_book, execute_chapter, hide_parameter_cells, run_page, toc_files

__all__ = ["BookError", "build_book", "execute_chapter", "hide_parameter_cells", "run_page", "toc_files"]
