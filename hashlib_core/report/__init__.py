"""Everything a chapter shows: shared tables (:mod:`.tables`), figures (:mod:`.figures`), the runs a chapter reads
and their stamps (:mod:`.chapter`), and one module per chapter (:mod:`.dchn`, :mod:`.djsrh`, :mod:`.hybridhash`,
:mod:`.overview`, :mod:`.protocols`, :mod:`.datasets`, :mod:`.performance`) whose functions take run records and
return what a cell displays: a styled table, a figure, a note, or a list of these.

``report`` reads records (:mod:`hashlib_core.records`) and never trains, runs a grid or builds the book. Chapter
modules are imported on first use (``from hashlib_core import report; report.dchn.paper_tables(...)``), so a
notebook that needs one chapter's helpers does not import every other chapter's dependencies.
"""

from importlib import import_module
from pathlib import Path

from .chapter import Captioned, ChapterRuns, glue_caption, note, show, show_captioned, stamp, stamps
from .tables import comparison_table, paper_layout_table, style_table

__all__ = ["Captioned", "ChapterRuns", "glue_caption", "note", "show", "show_captioned", "stamp", "stamps",
           "comparison_table", "paper_layout_table", "style_table"]


def __getattr__(name: str):
    if not name.startswith("_") and (Path(__file__).with_name(f"{name}.py")).is_file():
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
