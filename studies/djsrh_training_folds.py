"""Compare DJSRH settings on validation folds of the training pairs (never the test queries).

Each fold holds out ``--queries`` training pairs as queries; the other training pairs are both the training set
and the database (``load_dataset(..., validation={"queries", "fold"})``, see
:mod:`hashlib_core.data.validation`). Every setting runs on every (fold, seed) through ``djsrh.run``, the same code
the notebook calls, so the comparisons are paired: the script prints and writes mAP@50 (``deephash``) per
direction for each setting and the CCA baseline of the same split, and each setting's paired difference to the
first one (mean and standard error over the folds x seeds).

This is how the weight-averaging default (``ema_decay``) of ``hashlib_core.methods.djsrh`` was chosen:

    OMP_NUM_THREADS=1 python studies/djsrh_training_folds.py --jobs 2 \\
        --setting ema_decay=0.0 --setting ema_decay=0.999 --out studies/results/djsrh_weight_averaging.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hashlib_core.records.io import atomic_write_json, atomic_write_text  # noqa: E402
from hashlib_core.train.progress import progress  # noqa: E402

DIRECTIONS = ("image->text", "text->image")
CCA_LABEL = "CCA baseline mAP@50 (deephash)"


def parse_setting(text: str) -> dict:
    """``"a=1,b=x"`` -> ``{"a": 1, "b": "x"}`` (values read as JSON when they parse, else as strings)."""
    setting = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise SystemExit(f"--setting {text!r}: expected name=value[,name=value...]")
        try:
            setting[key] = json.loads(value)
        except json.JSONDecodeError:
            setting[key] = value
    return setting


def one_run(task: dict) -> dict:
    """Train and evaluate one (setting, fold, seed) in a scratch folder; returns its mAP@50s and CCA's."""
    from hashlib_core.methods import djsrh

    params = dict(task["setting"])
    params["data_options"] = {**params.get("data_options", {}),
                              "validation": {"queries": task["queries"], "fold": task["fold"]}}
    with tempfile.TemporaryDirectory() as scratch:
        record = djsrh.run(dataset=task["dataset"], bits=task["bits"], seed=task["seed"], profile=task["profile"],
                           device="cpu", data_root=task["data_root"], out_dir=scratch, **params).record
    cca = next(entry["map"] for entry in record["also"] if entry["label"] == CCA_LABEL)
    assert record["split"]["validation"] == {"queries": task["queries"], "fold": task["fold"]}
    return {**{key: task[key] for key in ("setting_index", "fold", "seed")}, "map": record["map"], "cca": cca,
            "split_sizes": record["split"]["sizes"], "train_seconds": record["train_seconds"]}


def summarise(results: list[dict], settings: list[dict]) -> tuple[list[dict], list[dict]]:
    """(per-setting means, per-setting paired differences to setting 0), over the (fold, seed) pairs."""
    by_setting = {i: {(r["fold"], r["seed"]): r for r in results if r["setting_index"] == i}
                  for i in range(len(settings))}
    keys = sorted(set.intersection(*(set(runs) for runs in by_setting.values())))
    means, diffs = [], []
    for i, setting in enumerate(settings):
        runs = [by_setting[i][key] for key in keys]
        row = {"setting": setting, "n": len(runs)}
        for d in DIRECTIONS:
            ours = np.array([r["map"][d] for r in runs])
            cca = np.array([r["cca"][d] for r in runs])
            row[f"{d} mAP@50"] = float(ours.mean())
            row[f"{d} CCA mAP@50"] = float(cca.mean())
            row[f"{d} wins over CCA"] = f"{int((ours > cca).sum())}/{len(runs)}"
        means.append(row)
        if i:
            diff = {"setting": setting, "against": settings[0], "n": len(runs)}
            for d in DIRECTIONS:
                delta = np.array([by_setting[i][k]["map"][d] - by_setting[0][k]["map"][d] for k in keys])
                diff[f"{d} mean difference"] = float(delta.mean())
                diff[f"{d} standard error"] = float(delta.std(ddof=1) / np.sqrt(delta.size)) if delta.size > 1 \
                    else float("nan")
            diffs.append(diff)
    return means, diffs


def to_markdown(header: list[str], means: list[dict], diffs: list[dict]) -> str:
    def label(setting):
        return ", ".join(f"{k}={v}" for k, v in setting.items()) or "(defaults)"

    lines = [*header, "", "| setting | runs | " + " | ".join(
        f"{d} mAP@50 | {d} CCA | {d} wins" for d in DIRECTIONS) + " |",
        "|---|---:|" + "---:|---:|---:|" * len(DIRECTIONS)]
    for row in means:
        lines.append(f"| {label(row['setting'])} | {row['n']} | " + " | ".join(
            f"{row[f'{d} mAP@50']:.4f} | {row[f'{d} CCA mAP@50']:.4f} | {row[f'{d} wins over CCA']}"
            for d in DIRECTIONS) + " |")
    if diffs:
        lines += ["", "Paired differences (same fold and seed) to the first setting, mean +- standard error:", "",
                  "| setting | against | " + " | ".join(DIRECTIONS) + " |", "|---|---|" + "---:|" * len(DIRECTIONS)]
        for row in diffs:
            lines.append(f"| {label(row['setting'])} | {label(row['against'])} | " + " | ".join(
                f"{row[f'{d} mean difference']:+.4f} +- {row[f'{d} standard error']:.4f}" for d in DIRECTIONS)
                + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", action="append", required=True,
                        help="DJSRH parameters name=value[,...]; give it once per setting (the first is the baseline)")
    parser.add_argument("--dataset", default="wikipedia")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--queries", type=int, default=500, help="held-out training pairs per fold")
    parser.add_argument("--data-root", default=None, help="default: $HASHLIB_DATA")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write a Markdown table here and JSON beside it")
    args = parser.parse_args(argv)

    settings = [parse_setting(text) for text in args.setting]
    tasks = [{"setting_index": i, "setting": setting, "fold": fold, "seed": seed, "dataset": args.dataset,
              "bits": args.bits, "profile": args.profile, "queries": args.queries, "data_root": args.data_root}
             for fold in args.folds for seed in args.seeds for i, setting in enumerate(settings)]
    started = time.time()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(progress(pool.map(one_run, tasks), total=len(tasks), desc="fold runs"))
    means, diffs = summarise(results, settings)
    command = "python studies/djsrh_training_folds.py " + " ".join(sys.argv[1:] if argv is None else argv)
    about = {"dataset": args.dataset, "bits": args.bits, "profile": args.profile, "device": "cpu",
             "folds": args.folds, "seeds": args.seeds, "queries": args.queries, "jobs": args.jobs,
             "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(time.time() - started, 1),
             "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "command": command}
    header = [f"# DJSRH settings on validation folds of the training pairs ({args.dataset}, {args.bits} bits)", "",
              f"- date (UTC): {about['date']}; {about['seconds']:.0f} s with {args.jobs} job(s); profile "
              f"{args.profile!r} on the CPU",
              f"- command: `{command}`",
              f"- folds {args.folds} x seeds {args.seeds}: {args.queries} training pairs held out as queries per fold "
              f"(numpy default_rng(fold)); the other training pairs train and form the database; the test queries "
              f"are never loaded",
              "- metric: mAP@50, protocol 'deephash'; CCA: the run's own CCA + random projection baseline",
              f"- threads: OMP_NUM_THREADS={about['omp_num_threads'] or 'unset'}"]
    text = to_markdown(header, means, diffs)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text)
        atomic_write_json(args.out.with_suffix(".json"), {**about, "settings": settings, "means": means,
                                                          "paired_differences": diffs, "runs": results})
        print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
