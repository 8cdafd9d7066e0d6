"""How the storage order of the retrieval set moves per-class mAP under ``ties="index"`` (issue 13, part 4).

``ties="index"`` ranks equal Hamming distances by ascending retrieval index. CIFAR-10's retrieval rows are stored
sorted by class (train rows then test rows, each sorted by class and image number), so within every tie the items
of low-numbered classes come first. This script takes a finished run folder (its ``codes.npz`` and
``metrics.json``) and measures, with the run's protocol and cutoff unless told otherwise:

- how sorted by class the retrieval set is: the fraction of neighbouring rows of the same class (beside its value
  for a random order, ``sum_c p_c^2``), the number of same-class blocks, the Spearman correlation between row
  index and class id, and each class's mean relative position (0 = first row, 1 = last);
- how tied the rankings are: distinct distances per query and the mean size of the distance bucket an item sits in;
- per-class mAP (:func:`hashlib_core.metrics.per_class_average_precision`) and the overall mAP under ``"index"``
  and ``"expected"`` ties, under ``"index"`` after ``--permutations`` seeded random permutations of the retrieval
  set (the same codes and labels, shuffled together), and under ``"index"`` with the storage order reversed.

If the per-class shift comes from the storage order, it should vanish (down to the noise of one random tie order)
after a random permutation and change sign when the order is reversed, while ``"expected"`` does not depend on the
order at all. This is a measurement of the evaluation protocol, not a choice of a default, so it reads the test
queries of the run. Output: Markdown and JSON (``--out X.md`` also writes ``X.json``):

    OMP_NUM_THREADS=1 python studies/tie_order_per_class.py /work/perclass/run \
        --out studies/results/tie_order_per_class.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hashlib_core.metrics import (hamming_distance, mean_average_precision,  # noqa: E402
                                  per_class_average_precision)
from hashlib_core.records.io import atomic_write_json, atomic_write_text, read_json, sha256_file  # noqa: E402


def load_run(run_dir: Path) -> tuple[dict, dict]:
    """``(metrics.json record, codes)`` of a finished image->image run; ``ValueError`` naming the file otherwise."""
    metrics, codes_file = run_dir / "metrics.json", run_dir / "codes.npz"
    for path in (metrics, codes_file):
        if not path.is_file():
            raise ValueError(f"{path}: missing (pass a finished run folder)")
    record = read_json(metrics)
    with np.load(codes_file) as data:
        codes = {key: data[key] for key in data.files}
    view = next((key[:-len("_query")] for key in codes if key.endswith("_query")), None)
    if view is None or f"{view}_retrieval" not in codes or "query_labels" not in codes:
        raise ValueError(f"{codes_file}: needs <view>_query, <view>_retrieval, query_labels, retrieval_labels")
    labels = codes["retrieval_labels"]
    if labels.ndim != 2 or not (labels.sum(axis=1) == 1).all():
        raise ValueError(f"{codes_file}: retrieval_labels are not single-label one-hot rows; this study is for "
                         f"single-label sets")
    return record, {"view": view, "query": codes[f"{view}_query"], "retrieval": codes[f"{view}_retrieval"],
                    "query_labels": codes["query_labels"], "retrieval_labels": labels,
                    "sha256": sha256_file(codes_file)}


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def sortedness(class_ids: np.ndarray, classes: int) -> dict:
    """How sorted by class the rows are (see the module docstring)."""
    n = len(class_ids)
    shares = np.bincount(class_ids, minlength=classes) / n
    position = np.arange(n) / max(n - 1, 1)
    return {"items": int(n),
            "neighbours same class": float(np.mean(class_ids[1:] == class_ids[:-1])),
            "neighbours same class, random order": float((shares ** 2).sum()),
            "same-class blocks": int((np.diff(class_ids) != 0).sum() + 1),
            "spearman index vs class": spearman(np.arange(n), class_ids),
            "mean position per class": [float(position[class_ids == c].mean()) if (class_ids == c).any()
                                        else None for c in range(classes)]}


def tie_profile(query: np.ndarray, retrieval: np.ndarray) -> dict:
    """Distinct Hamming distances per query and the mean size of the bucket an item sits in (mean over queries)."""
    distance = hamming_distance(query, retrieval)
    bits = query.shape[1]
    distinct, bucket = [], []
    for row in distance:
        counts = np.bincount(row, minlength=bits + 1)
        distinct.append(int((counts > 0).sum()))
        bucket.append(float((counts.astype(np.float64) ** 2).sum() / len(row)))
    return {"distinct distances per query": float(np.mean(distinct)), "mean bucket size": float(np.mean(bucket))}


def class_names_for(record: dict, classes: int) -> list[str]:
    """The dataset's class names when it loads here, else ``class 0``, ``class 1``, ..."""
    try:
        from hashlib_core.data import load_dataset

        names = load_dataset(record["dataset"]).class_names
        if names and len(names) == classes:
            return list(names)
    except Exception:  # no data root here: ids only
        pass
    return [f"class {c}" for c in range(classes)]


def measure(run_dir: Path, *, permutations: int, protocol: str | None, topk, seed: int) -> dict:
    record, codes = load_run(run_dir)
    protocol = protocol or record["protocol"]
    topk = record["topk"] if topk == "record" else topk
    q, r, ql, rl = codes["query"], codes["retrieval"], codes["query_labels"], codes["retrieval_labels"]
    classes = rl.shape[1]
    r_ids = rl.argmax(axis=1)

    def scores(order: np.ndarray | None, ties: str):
        rr, ll = (r, rl) if order is None else (r[order], rl[order])
        per_class, counts = per_class_average_precision(q, rr, ql, ll, protocol=protocol, topk=topk, ties=ties,
                                                        return_counts=True)
        overall = mean_average_precision(q, rr, ql, ll, protocol=protocol, topk=topk, ties=ties)
        return per_class, counts, overall

    index, counts, overall_index = scores(None, "index")
    expected, _, overall_expected = scores(None, "expected")
    reversed_order = np.arange(len(r))[::-1]
    reverse, _, overall_reverse = scores(reversed_order, "index")
    rng = np.random.default_rng(seed)
    permuted, overall_permuted, permuted_sortedness = [], [], []
    for _ in range(permutations):
        order = rng.permutation(len(r))
        values, _, overall = scores(order, "index")
        permuted.append(values)
        overall_permuted.append(overall)
        permuted_sortedness.append(float(np.mean(r_ids[order][1:] == r_ids[order][:-1])))
    expected_permuted = scores(rng.permutation(len(r)), "expected")[0]
    permuted = np.array(permuted)
    names = class_names_for(record, classes)
    order_info = sortedness(r_ids, classes)
    rows = []
    for c in range(classes):
        rows.append({"class": c, "name": names[c], "queries": int(counts[c]),
                     "retrieval items": int((r_ids == c).sum()),
                     "mean position": order_info["mean position per class"][c],
                     "index": float(index[c]), "expected": float(expected[c]),
                     "index - expected": float(index[c] - expected[c]),
                     "reversed - expected": float(reverse[c] - expected[c]),
                     "permuted - expected": [float(v) for v in permuted[:, c] - expected[c]],
                     "permuted - expected, mean": float(permuted[:, c].mean() - expected[c]),
                     "permuted - expected, max abs": float(np.abs(permuted[:, c] - expected[c]).max())})
    delta = index - expected
    return {
        "run": {"dir": str(run_dir), "method": record["method"], "dataset": record["dataset"], "bits": record["bits"],
                "seed": record["seed"], "profile": record["profile"], "device": record["device"],
                "date": record["date"], "git_commit": record.get("git_commit"), "codes_sha256": codes["sha256"],
                "direction": f"{codes['view']}->{codes['view']}", "queries": int(len(q)),
                "train_command": f"python -m hashlib_core run {record['method']} --dataset {record['dataset']} "
                                 f"--bits {record['bits']} --seed {record['seed']} --profile {record['profile']} "
                                 f"--out-dir RUN_DIR"},
        "protocol": protocol, "topk": topk, "permutations": permutations, "permutation_seed": seed,
        "sortedness": order_info, "sortedness after permutation": {
            "neighbours same class, mean": float(np.mean(permuted_sortedness)) if permutations else None},
        "ties": tie_profile(q, r),
        "per_class": rows,
        "overall": {"index": overall_index, "expected": overall_expected, "reversed": overall_reverse,
                    "permuted": overall_permuted, "index - expected": overall_index - overall_expected},
        "summary": {
            "max abs index - expected": float(np.abs(delta).max()),
            "class of max abs index - expected": names[int(np.abs(delta).argmax())],
            "mean abs index - expected": float(np.abs(delta).mean()),
            "max abs reversed - expected": float(np.abs(reverse - expected).max()),
            "max abs permuted - expected": float(np.abs(permuted - expected).max()) if permutations else None,
            "mean abs permuted - expected": float(np.abs(permuted - expected).mean()) if permutations else None,
            "corr(index - expected, reversed - expected)": float(np.corrcoef(delta, reverse - expected)[0, 1]),
            "corr(index - expected, mean position)": float(np.corrcoef(
                delta, order_info["mean position per class"])[0, 1]),
            "abs overall index - expected": abs(overall_index - overall_expected),
            "expected after a permutation, max abs change": float(np.abs(expected_permuted - expected).max()),
        },
    }


def markdown(result: dict) -> str:
    run, s, o, t, srt = result["run"], result["summary"], result["overall"], result["ties"], result["sortedness"]
    topk = "all" if result["topk"] is None else result["topk"]
    lines = [
        f"# Per-class mAP and the order of ties: {run['method']} {run['dataset']} {run['bits']} bits",
        "",
        f"- date (UTC): {result['date']}; {result['seconds']:.0f} s on the {result['device']} "
        f"(OMP_NUM_THREADS={result['omp_num_threads']})",
        f"- command: `{result['command']}`",
        f"- codes: run `{run['dir']}` ({run['method']}, profile {run['profile']}, trained on the {run['device']} "
        f"{run['date'][:10]}, seed {run['seed']}, {run['direction']}, {run['queries']} queries x {srt['items']} "
        f"retrieval items; codes.npz sha256 {run['codes_sha256'][:12]}; made by `{run['train_command']}`)",
        f"- metric: `{result['protocol']}` mAP@{topk}, per class = mean AP of the queries of that class "
        "(`hashlib_core.metrics.per_class_average_precision`)",
        f"- storage order of the retrieval set: {srt['neighbours same class']:.4f} of neighbouring rows share a class "
        f"(random order: {srt['neighbours same class, random order']:.4f}), {srt['same-class blocks']} same-class "
        f"blocks, Spearman(row index, class id) {srt['spearman index vs class']:.3f}",
        f"- ties: {t['distinct distances per query']:.1f} distinct distances per query; an item shares its distance "
        f"with {t['mean bucket size']:.0f} items on average",
        f"- permuted: `ties=\"index\"` after {result['permutations']} random permutations of the retrieval rows "
        f"(seed {result['permutation_seed']}); reversed: the storage order reversed",
        "",
        "| class | queries | mean position | index | expected | index - expected | reversed - expected "
        "| permuted - expected (mean; max abs) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["per_class"]:
        lines.append(f"| {row['class']} {row['name']} | {row['queries']} | {row['mean position']:.2f} "
                     f"| {row['index']:.4f} | {row['expected']:.4f} | {row['index - expected']:+.4f} "
                     f"| {row['reversed - expected']:+.4f} | {row['permuted - expected, mean']:+.4f}; "
                     f"{row['permuted - expected, max abs']:.4f} |")
    permuted = ", ".join(f"{v:.4f}" for v in o["permuted"])
    worst = s["class of max abs index - expected"]
    lines += [
        f"| **all** | {run['queries']} | | {o['index']:.4f} | {o['expected']:.4f} | {o['index - expected']:+.5f} "
        f"| {o['reversed'] - o['expected']:+.5f} | permuted overall: {permuted} |",
        "",
        f"Per class, `index - expected` reaches **{s['max abs index - expected']:.4f}** ({worst}; "
        f"mean |.| {s['mean abs index - expected']:.4f}) while the overall mean moves by "
        f"**{s['abs overall index - expected']:.5f}**. After a random permutation of the retrieval rows the largest "
        f"per-class shift is {s['max abs permuted - expected']:.4f} (mean |.| {s['mean abs permuted - expected']:.4f});"
        f" reversing the storage order gives up to {s['max abs reversed - expected']:.4f}, correlation with the stored "
        f"order's shifts {s['corr(index - expected, reversed - expected)']:+.2f}; correlation of the stored order's "
        f"shift with the class's mean position {s['corr(index - expected, mean position)']:+.2f}. `ties=\"expected\"` "
        f"does not depend on the order (largest change after a permutation: "
        f"{s['expected after a permutation, max abs change']:.1e}).",
    ]
    return "\n".join(lines) + "\n"


def parse_topk(value: str):
    if value == "record":
        return "record"
    if value in ("all", "none", "None"):
        return None
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--topk: expected 'record', 'all' or a positive integer, got {value!r}")
    if k < 1:
        raise argparse.ArgumentTypeError(f"--topk: must be positive, got {k}")
    return k


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished single-label run folder (metrics.json + codes.npz)")
    parser.add_argument("--permutations", type=int, default=5, help="random permutations of the retrieval set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations")
    parser.add_argument("--protocol", default=None, help="AP protocol (default: the run's)")
    parser.add_argument("--topk", type=parse_topk, default="record", help="cutoff: 'record' (the run's), 'all', K")
    parser.add_argument("--out", type=Path, default=None, help="write Markdown here and JSON beside it (.json)")
    args = parser.parse_args(argv)
    if args.permutations < 0:
        parser.error(f"--permutations must be >= 0, got {args.permutations}")
    start = time.perf_counter()
    try:
        result = measure(args.run_dir, permutations=args.permutations, protocol=args.protocol, topk=args.topk,
                         seed=args.seed)
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")
    result.update({"device": "cpu", "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "seconds": round(time.perf_counter() - start, 1),
                   "command": "python studies/tie_order_per_class.py " + " ".join(
                       argv if argv is not None else sys.argv[1:])})
    text = markdown(result)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text)
        atomic_write_json(args.out.with_suffix(".json"), result)
    return result


if __name__ == "__main__":
    main()
