"""The benchmark matrix: every finished run's saved codes re-scored under every evaluation, without retraining.

One row per (finished run, direction, evaluation), columns :data:`COLUMNS`. The evaluations are
:func:`evaluations_for` a run: ``deephash`` over the whole ranking and at the papers' cutoffs (50, 1000, 5000 where
the retrieval set is larger), ``dcmh`` and ``dchn`` over the whole ranking, each with ties ``index`` and
``expected``, plus the run's own main evaluation (so re-scoring reproduces its ``metrics.json`` number). Runs whose
folder holds no ``codes.npz`` (committed records made before codes were kept) cannot be re-scored: they are listed
in :attr:`Matrix.skipped` with the reason, never given numbers from elsewhere; so are records
:func:`~hashlib_core.records.load_runs` found unreadable (e.g. a truncated ``codes.npz``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics import evaluate_retrieval
from ..records import load_runs, read_json
from ..records.runs import RECIPE_METHODS as DEEP_METHODS, recipe_of

COLUMNS = ("method", "variant", "recipe", "dataset", "direction", "bits", "seed", "protocol", "topk", "ties", "map",
           "run_dir")
PAPER_CUTOFFS = (50, 1000, 5000)
TIE_RULES = ("index", "expected")
BASE_VARIANT = "base"  # the variant name of a run without a grid label


def evaluations_for(n_retrieval: int, main: tuple[str, int | None, str] | None = None) -> list[tuple]:
    """The ``(protocol, topk, ties)`` evaluations of a run whose retrieval set has ``n_retrieval`` items.

    ``topk=None`` is the whole ranking; a paper cutoff is used only where it is smaller than the retrieval set
    (otherwise it equals mAP@all). ``main`` (the run's own evaluation) is added when it is not among them.
    """
    cuts = [None] + [k for k in PAPER_CUTOFFS if k < n_retrieval]
    found = [("deephash", k, ties) for k in cuts for ties in TIE_RULES]
    found += [(protocol, None, ties) for protocol in ("dcmh", "dchn") for ties in TIE_RULES]
    if main is not None and tuple(main) not in found:
        found.append(tuple(main))
    return found


def read_codes(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """``codes.npz`` of a run folder as a dict; ``ValueError`` naming the file when it is missing or unreadable."""
    path = Path(run_dir) / "codes.npz"
    if not path.is_file():
        raise ValueError(f"{path}: no codes.npz in this run folder")
    try:
        with np.load(path) as data:
            return {name: data[name] for name in data.files}
    except Exception as exc:  # a truncated zip raises several kinds of error
        raise ValueError(f"{path}: unreadable codes ({type(exc).__name__}: {exc})") from None


def rescore_run(run_dir: str | os.PathLike, evaluations=None) -> list[dict]:
    """Re-score one finished run folder from its ``codes.npz``: one dict per (direction, evaluation) with the keys
    ``direction, protocol, topk, ties, map``. ``evaluations`` defaults to :func:`evaluations_for` the run."""
    run_dir = Path(run_dir)
    record = read_json(run_dir / "metrics.json")
    codes = read_codes(run_dir)
    query_labels, retrieval_labels = codes["query_labels"], codes["retrieval_labels"]
    if evaluations is None:
        evaluations = evaluations_for(len(retrieval_labels), (record["protocol"], record["topk"], record["ties"]))
    pairs = []
    for direction in record["map"]:
        query_view, retrieval_view = direction.split("->", 1)
        needed = [f"{query_view}_query", f"{retrieval_view}_retrieval"]
        missing = [name for name in needed if name not in codes]
        if missing:
            raise ValueError(f"{run_dir / 'codes.npz'}: no arrays {missing} for direction {direction!r}")
        pairs.append((query_view, retrieval_view))
    query_codes = {view: codes[f"{view}_query"] for view, _ in pairs}
    retrieval_codes = {view: codes[f"{view}_retrieval"] for _, view in pairs}
    rows = []
    for protocol, topk, ties in evaluations:
        scored = evaluate_retrieval(query_codes, retrieval_codes, query_labels, retrieval_labels, pairs=pairs,
                                    protocol=protocol, topk=topk, ties=ties, curves=False)
        rows += [{"direction": direction, "protocol": protocol, "topk": topk, "ties": ties, "map": value}
                 for direction, value in scored["map"].items()]
    return rows


def variant_of(method: str, label) -> str:
    """A run's grid label as its variant; :data:`BASE_VARIANT` for an unlabelled run and for a label that only
    repeats the method's name (the shared baseline notebook labels its runs ``<method>[-<features>]``; the variant
    is then the features)."""
    if label is None or (isinstance(label, float) and label != label) or str(label) in ("", str(method)):
        return BASE_VARIANT
    return str(label).removeprefix(f"{method}-")  # "itq-pixels" -> "pixels"


@dataclass
class Matrix:
    """The matrix (:attr:`frame`, columns :data:`COLUMNS`) and the runs that could not be re-scored
    (:attr:`skipped`: ``run_dir, method, dataset, reason``)."""

    frame: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["run_dir", "method", "dataset",
                                                                                 "reason"]))


def build_matrix(profile: str, roots=None, progress: bool = True) -> Matrix:
    """Re-score every finished run of ``profile`` below ``roots`` (default: fresh ``runs/`` and committed
    ``records/``, as :func:`hashlib_core.records.load_runs`)."""
    from ..train import progress as progress_bar

    runs = load_runs(profile=profile, roots=roots)
    rows, skipped = [], []
    if not runs.empty:
        unreadable = runs[(runs["status"] == "failed") & runs["error"].astype(str).str.startswith("unreadable")]
        skipped += [{"run_dir": r.run_dir, "method": r.method, "dataset": r.dataset, "reason": r.error}
                    for r in unreadable.drop_duplicates("run_dir").itertuples(index=False)]
        runs = runs[(runs["status"] == "ok") & (runs["evaluation"] == "main")]
    runs = runs.drop_duplicates("run_dir") if not runs.empty else runs
    items = list(runs.itertuples(index=False))
    for run in (progress_bar(items, desc=f"matrix ({profile})", unit="run") if progress else items):
        base = {"method": run.method, "variant": variant_of(run.method, run.label),
                "recipe": run.recipe, "dataset": run.dataset, "bits": int(run.bits),
                "seed": int(run.seed), "run_dir": run.run_dir}
        try:
            scored = rescore_run(run.run_dir)
        except ValueError as exc:
            skipped.append({"run_dir": run.run_dir, "method": run.method, "dataset": run.dataset,
                            "reason": str(exc)})
            continue
        rows += [{**base, **row} for row in scored]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["topk"] = frame["topk"].astype("Int64")
    return Matrix(frame=frame, skipped=pd.DataFrame(skipped, columns=["run_dir", "method", "dataset", "reason"]))


def write_matrix(matrix: Matrix, path: str | os.PathLike) -> Path:
    """Write the matrix as CSV (``topk`` empty = the whole ranking), atomically; return the path."""
    from ..records import atomic_write_text

    path = Path(path)
    atomic_write_text(path, matrix.frame.to_csv(index=False))
    return path


def read_matrix(path: str | os.PathLike) -> pd.DataFrame:
    """A matrix CSV written by :func:`write_matrix` (``topk`` as nullable integers, ``<NA>`` = all)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no matrix file (write it with `python -m hashlib_core matrix`)")
    frame = pd.read_csv(path, dtype={"variant": str, "recipe": str})
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a matrix file (missing columns {missing})")
    frame["topk"] = frame["topk"].astype("Int64")
    return frame
