"""Compare the HTML tables (captions and cell values) of two builds of the book, page by page.

    python tests/book_tables_diff.py BEFORE/html AFTER/html [--ignore-column date --ignore-column ...]

The proof of a change without behaviour change (issue 11): build the book before and after, then run this. Tables
are matched in page order; for each page it prints how many tables are identical, and for the others the caption
change, the added / removed columns and every differing cell (row label, column, before -> after). Columns named
with ``--ignore-column`` (e.g. ``date`` or ``train s per run``, which differ between any two builds) are listed
separately as expected differences. Exit code: 0 when every table matches outside the ignored columns, else 1.
Only the standard library is used (no HTML parser to install).
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

_SPACE = re.compile(r"\s+")


class _Tables(HTMLParser):
    """Every ``<table>``: its caption and its rows of cell texts (``th`` and ``td`` alike, whitespace folded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self._stack = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._stack.append({"caption": "", "rows": [], "row": None, "cell": None, "in_caption": False,
                                "in_head": False, "head": 0})
        elif not self._stack:
            return
        table = self._stack[-1]
        if tag == "caption":
            table["in_caption"] = True
        elif tag == "thead":
            table["in_head"] = True
        elif tag == "tr":
            table["row"] = []
        elif tag in ("td", "th"):
            table["cell"] = []
            span = dict(attrs).get("colspan")
            table["colspan"] = int(span) if span and span.isdigit() else 1

    def handle_endtag(self, tag):
        if not self._stack:
            return
        table = self._stack[-1]
        if tag == "caption":
            table["in_caption"] = False
        elif tag == "thead":
            table["in_head"] = False
        elif tag in ("td", "th") and table["cell"] is not None and table["row"] is not None:
            text = _SPACE.sub(" ", "".join(table["cell"])).strip()
            table["row"] += [text] * table.get("colspan", 1)
            table["cell"] = None
        elif tag == "tr" and table["row"] is not None:
            table["rows"].append(table["row"])
            table["head"] += table["in_head"]
            table["row"] = None
        elif tag == "table":
            done = self._stack.pop()
            self.tables.append({"caption": _SPACE.sub(" ", done["caption"]).strip(), "rows": done["rows"],
                                "head": done["head"]})

    def handle_data(self, data):
        if not self._stack:
            return
        table = self._stack[-1]
        if table["in_caption"]:
            table["caption"] += data
        elif table["cell"] is not None:
            table["cell"].append(data)


def page_tables(path: Path) -> list[dict]:
    """The tables of one HTML page, in document order."""
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def _columns(table: dict) -> list[str]:
    """One unique name per column: its header cells joined (a repeated name gets ``#2``, ``#3``, ...)."""
    head = table["rows"][:table["head"]] or table["rows"][:1]  # the <thead> rows (else the first row)
    width = max((len(r) for r in table["rows"]), default=0)
    names, seen = [], {}
    for c in range(width):
        name = " / ".join(dict.fromkeys(r[c] for r in head if c < len(r) and r[c])) or f"col{c}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return names


def compare_tables(before: dict, after: dict, ignore: set[str]) -> tuple[list[str], list[str]]:
    """(differences, expected differences in ignored columns) of two tables, as readable lines."""
    differences, expected = [], []
    if before["caption"] != after["caption"]:
        differences.append(f"caption: {before['caption']!r} -> {after['caption']!r}")
    cols_before, cols_after = _columns(before), _columns(after)
    if cols_before != cols_after:
        added = [c for c in cols_after if c not in cols_before]
        removed = [c for c in cols_before if c not in cols_after]
        differences.append(f"columns: added {added}, removed {removed}")
    index = {c: i for i, c in enumerate(cols_after)}
    rows_before, rows_after = before["rows"], after["rows"]
    if len(rows_before) != len(rows_after):
        differences.append(f"rows: {len(rows_before)} -> {len(rows_after)}")
    for r, (row_b, row_a) in enumerate(zip(rows_before, rows_after)):
        label = row_b[0] if row_b else f"row {r}"
        for c, column in enumerate(cols_before):
            if column not in index:
                continue
            old = row_b[c] if c < len(row_b) else ""
            new = row_a[index[column]] if index[column] < len(row_a) else ""
            if old != new:
                line = f"row {r} ({label}), {column}: {old!r} -> {new!r}"
                (expected if any(name in column for name in ignore) else differences).append(line)
    return differences, expected


def compare_builds(before: Path, after: Path, ignore: set[str], out=sys.stdout, max_lines: int = 12) -> int:
    """Print the comparison of every page present in both builds; return the number of differing tables."""
    pages = sorted({p.relative_to(before) for p in before.rglob("*.html")}
                   & {p.relative_to(after) for p in after.rglob("*.html")})
    only = sorted({p.relative_to(before) for p in before.rglob("*.html")}
                  ^ {p.relative_to(after) for p in after.rglob("*.html")})
    differing = 0
    for page in pages:
        if page.name in ("genindex.html", "search.html"):
            continue
        tables_b, tables_a = page_tables(before / page), page_tables(after / page)
        if not tables_b and not tables_a:
            continue
        lines, same = [], 0
        for i, (tb, ta) in enumerate(zip(tables_b, tables_a)):
            diffs, expected = compare_tables(tb, ta, ignore)
            if not diffs:
                same += 1
                if expected:
                    lines.append(f"  table {i + 1} ({tb['caption'][:70] or 'no caption'}): values identical; "
                                 f"{len(expected)} cell(s) differ in ignored columns, e.g. {expected[0]}")
                continue
            differing += 1
            lines.append(f"  table {i + 1} ({tb['caption'][:70] or 'no caption'}): {len(diffs)} difference(s)")
            lines += [f"    {d}" for d in diffs[:max_lines]]
            if len(diffs) > max_lines:
                lines.append(f"    ... {len(diffs) - max_lines} more")
        if len(tables_b) != len(tables_a):
            differing += abs(len(tables_b) - len(tables_a))
            extra = tables_a[len(tables_b):] if len(tables_a) > len(tables_b) else tables_b[len(tables_a):]
            lines.append(f"  {'added' if len(tables_a) > len(tables_b) else 'removed'} table(s): "
                         + "; ".join(t["caption"][:70] or "no caption" for t in extra))
        print(f"{page}: {len(tables_b)} tables before, {len(tables_a)} after, {same} identical", file=out)
        for line in lines:
            print(line, file=out)
    for page in only:
        print(f"{page}: only in {'before' if (before / page).is_file() else 'after'}", file=out)
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the html/ folder of the first build")
    parser.add_argument("after", type=Path, help="the html/ folder of the second build")
    parser.add_argument("--ignore-column", action="append", default=[],
                        help="a column (or part of its name) whose differences are expected, e.g. date")
    parser.add_argument("--max-lines", type=int, default=12, help="differences shown per table")
    args = parser.parse_args(argv)
    for folder in (args.before, args.after):
        if not folder.is_dir():
            parser.error(f"{folder}: not a folder (give the html/ folder of a book build)")
    differing = compare_builds(args.before, args.after, set(args.ignore_column), max_lines=args.max_lines)
    print(f"{differing} table(s) differ outside the ignored columns")
    return 0 if differing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
