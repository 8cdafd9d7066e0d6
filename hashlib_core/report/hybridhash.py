"""What the HybridHash chapter (``book/chapters/hybridhash.ipynb``) shows: the network's parts, the comparison with
the authors' training log, the runs, their training and precision curves, and retrieval examples.

Sections take a :class:`~hashlib_core.report.chapter.ChapterRuns` (or its rows) and return what the cell shows (a
styled table, a closed figure, a :class:`~hashlib_core.report.chapter.Captioned` figure, a note, or a list of
these). mAP is the ``deephash`` protocol over the dataset's cutoff (all retrieval items for CIFAR-10).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..methods.hybridhash import BEST_LABEL
from .chapter import Captioned, ChapterRuns, note
from .figures import plot_pr_curve, plot_precision_at_n, plt
from .tables import comparison_table, style_table

METHOD = "hybridhash"
CIFAR_NAME = "CIFAR-10 (JPEG q75 copy)"
MODEL_SIZES = ("paper", "small", "tiny")
_PART_NAMES = {"patch_embed": "patch_embed", "stage0": "stage 1", "interaction0": "interaction 1->2",
               "stage1": "stage 2", "interaction1": "interaction 2->3", "stage2": "stage 3", "norm": "norm"}


def dataset_name(dataset: str) -> str:
    """How the book names a dataset: CIFAR-10 here is the JPEG q75 copy."""
    return CIFAR_NAME if dataset == "cifar10" else dataset


def built_for(chapter: ChapterRuns, runs_root, records_root):
    """The chapter's opening line: the profile, the finished runs found and the folders they came from."""
    from .chapter import resolve_root

    ok = chapter.ok
    return note(f"Profile **{chapter.profile}**: {ok['run_dir'].nunique() if len(ok) else 0} finished HybridHash "
                f"run(s) found (fresh in `{resolve_root(runs_root).name}/`, committed in "
                f"`{resolve_root(records_root).name}/`).")


# ---------------------------------------------------------------------------------------------- the network

def describe(size: str, bits: int = 64):
    """Build the ``size`` preset on the meta device (no memory, no weights): ``(model, parts, flops)`` with one
    row per part in forward order (output shape (C, H, W), parameters, share of all parameters) and the forward
    FLOPs of one image."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models.hybridhash import PRESETS, HybridHashNet, stage_parameter_counts

    config = PRESETS[size]
    with torch.device("meta"):
        model = HybridHashNet(config, bits).eval()
        x = torch.empty(1, config.in_chans, config.image_size, config.image_size)
        shapes = {k: tuple(v.shape[1:]) for k, v in model.features(x).items()}
        with FlopCounterMode(display=False) as counter:
            out = model(x)
    counts = stage_parameter_counts(model)
    rows = [{"part": _PART_NAMES[k], "output (C, H, W)": str(v), "parameters": counts[_PART_NAMES[k]]}
            for k, v in shapes.items()]
    rows.append({"part": "hash layer", "output (C, H, W)": str(tuple(out.shape[1:])),
                 "parameters": counts["hash layer"]})
    frame = pd.DataFrame(rows)
    frame["share"] = (frame["parameters"] / frame["parameters"].sum()).map("{:.1%}".format)
    return model, frame, counter.get_total_flops()


def architecture(sizes: Sequence[str] = MODEL_SIZES) -> tuple[list, dict]:
    """Per preset a note (input, patch, widths, layers, heads, blocks, drop-path, parameters, GFLOPs, tensors with
    a NesT counterpart) and its parts table; returns ``(shown, {size: parts frame})``."""
    from ..models.hybridhash import PRESETS
    from ..models.nest_weights import ours_key_to_nest

    shown, parts = [], {}
    for size in sizes:
        model, frame, flops = describe(size)
        parts[size] = frame
        c = PRESETS[size]
        nest_tensors = sum(1 for k in model.state_dict() if ours_key_to_nest(k) is not None)
        shown.append(note(f"**{size}**: input {c.image_size} x {c.image_size}, patch {c.patch_size}, widths "
                          f"{c.embed_dims}, layers {c.depths}, heads {c.num_heads}, blocks {c.num_blocks}, drop-path "
                          f"{c.drop_path}: **{frame['parameters'].sum():,} parameters**, {flops / 1e9:.3g} GFLOPs "
                          f"forward per image; {nest_tensors} of its {len(model.state_dict())} tensors have a NesT "
                          f"counterpart (the global branches and the hash layer do not)."))
        shown.append(style_table(frame))
    return shown, parts


def parameters_figure(parts: pd.DataFrame):
    """Parameters (millions) per part of the paper-size network, in forward order (a closed figure)."""
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    ax.barh(parts["part"][::-1], parts["parameters"][::-1] / 1e6, color="tab:blue")
    ax.set_xlabel("parameters (millions)")
    ax.set_title("HybridHash (paper size, 64 bits): parameters per part, in forward order", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------------------------------------- the runs

def log_comparison(runs: pd.DataFrame, references: pd.DataFrame):
    """The authors' training-log values (best test mAP over epochs) beside ours under the same selection.
    ``references``: ``load_references("hybridhash")``; ``runs``: :func:`load_runs` rows (finished and failed)."""
    table = comparison_table(references, runs, paper_method="HybridHash", our_method=METHOD,
                             metric_protocol="deephash", evaluation=BEST_LABEL)
    table = table.rename(columns={"paper": "original log (best on test)", "ours": "ours (best on test)"})
    table["dataset"] = table["dataset"].replace({"cifar10": CIFAR_NAME})
    return style_table(table[["dataset", "direction", "bits", "original log (best on test)", "ours (best on test)",
                              "diff", "metric", "profile", "source", "device", "date", "note"]],
                       caption="HybridHash repository training-log values (best test mAP over epochs) beside ours, "
                               "same selection")


def data_note(datasets: Sequence[str] = ("imagenet100", "nus_wide_81", "cifar10", "fashion_mnist"), status_of=None):
    """Which of HybridHash's datasets are on this machine (from the loaders) and how to obtain the others."""
    if status_of is None:
        from ..data import dataset_status as status_of
    lines = []
    for name in datasets:
        status = status_of(name)
        lines.append(f"- `{name}`: **{status['status']}** here"
                     + ("" if status["status"] == "present" else f". To obtain it: {status['obtain']}"))
    return note("Data for HybridHash's datasets on this machine (from the loaders):\n\n" + "\n".join(lines)
                + "\n\nImageNet-100 and NUS-WIDE-81 use DeepHash-pytorch's list files (`train.txt`, `test.txt`, "
                "`database.txt`) with the images they point to. With those in place, "
                "`hybridhash.run(dataset=\"imagenet100\", profile=\"paper\", ...)` evaluates mAP@1000 "
                "(NUS-WIDE-81: @5000).")


def results_table(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run: dataset, bits, seed, profile, source, model size, split sizes, epochs, the
    last-epoch mAP, the best-on-test mAP and its epoch, training and encoding throughput, device and date."""
    from ..records.io import read_json

    rows = []
    for run_dir in (ok["run_dir"].unique() if len(ok) else []):
        record = read_json(Path(run_dir) / "metrics.json")
        row = ok[(ok["run_dir"] == run_dir) & (ok["evaluation"] == "main")].iloc[0]
        settings, sizes = record["settings"], record["split"]["sizes"]
        best = {a["label"]: a for a in record.get("also", [])}.get(BEST_LABEL, {})
        rows.append({
            "dataset": dataset_name(record["dataset"]), "bits": record["bits"], "seed": record["seed"],
            "profile": record["profile"], "source": row["source"], "model": (settings.get("model_size") if settings.get("backbone", "hybrid") == "hybrid"
                                                   else settings.get("backbone")),
            "train / query / retrieval": f"{sizes['train']} / {sizes['query']} / {sizes['retrieval']}",
            "epochs": record["epochs"], "mAP (last epoch)": record["map"]["image->image"],
            "best on test (selected on test queries)": best.get("map", {}).get("image->image", float("nan")),
            "best epoch": best.get("epoch"),
            "train images/s": f"{settings.get('train_images_per_s', float('nan')):.0f}",
            "encode images/s": f"{settings.get('encode_images_per_s', float('nan')):.0f}",
            "device": record["device"], "date": record["date"][:10]})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["best epoch"] = frame["best epoch"].astype("Int64")  # blank where no epoch was evaluated
    return frame


def runs_section(chapter: ChapterRuns) -> list:
    """:func:`results_table` of the chapter's runs (or a note), then the failed runs with their errors."""
    results = results_table(chapter.ok)
    runs = chapter.runs
    shown = [style_table(results, digits=4, caption="HybridHash runs (mAP: deephash protocol, all retrieval items "
                                                    "for CIFAR-10)") if len(results) else
             note(f"No finished HybridHash run for profile `{chapter.profile}` and no committed record.")]
    failed = runs[runs["status"] == "failed"] if len(runs) else runs
    if len(failed):
        shown.append(note("Runs that failed (e.g. missing data): " + "; ".join(
            f"`{r.run_id}` ({r.profile}): {str(r.error)[:300]}"
            for r in failed.drop_duplicates("run_dir").itertuples())))
    return shown


def _curve_runs(chapter: ChapterRuns) -> pd.DataFrame:
    ok = chapter.ok
    return ok.drop_duplicates("run_dir") if len(ok) else ok


def runs_about(chapter: ChapterRuns) -> str:
    """The caption text naming every run drawn: dataset, bits, profile, source, device, date."""
    return "; ".join(f"{dataset_name(r.dataset)} {r.bits} bits, profile {r.profile} ({r.source}), device "
                     f"{r.device}, {str(r.date)[:10]}" for r in _curve_runs(chapter).itertuples())


def history_figure(chapter: ChapterRuns):
    """Training loss and test-query mAP at the evaluated epochs, one line per run: :class:`Captioned`, or a note."""
    from ..records.runs import load_history

    curve_runs = _curve_runs(chapter)
    if not len(curve_runs):
        return note("No run to plot.")
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), dpi=100)
    for r in curve_runs.itertuples():
        history = load_history(r.run_dir)
        label = f"{r.dataset} {r.bits}b {r.profile} ({r.source})" + (f" {r.label}" if isinstance(r.label, str) else "")
        axes[0].plot([h["epoch"] for h in history], [h["loss"] for h in history], label=label)
        evaluated = [h for h in history if "test_map" in h]
        axes[1].plot([h["epoch"] for h in evaluated], [h["test_map"] for h in evaluated], marker="o", label=label)
    axes[0].set(xlabel="epoch", ylabel="training loss", title="loss")
    axes[1].set(xlabel="epoch", ylabel="mAP (test queries)", title="test-query mAP at evaluated epochs")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return Captioned.of(fig, runs_about(chapter))


def precision_figure(chapter: ChapterRuns):
    """Precision-recall and precision@N of every run's last-epoch codes: :class:`Captioned`, or a note."""
    from ..records.runs import load_curves

    curve_runs = _curve_runs(chapter)
    if not len(curve_runs):
        return note("No run to plot.")
    curves = {}
    for r in curve_runs.itertuples():
        name = "CIFAR-10 (JPEG q75)" if r.dataset == "cifar10" else r.dataset
        for direction, curve in load_curves(r.run_dir).items():
            variant = f" {r.label}" if isinstance(r.label, str) else ""
            curves[f"{name} {r.bits}b {r.profile}{variant}"] = curve
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), dpi=100)
    plot_pr_curve(curves, ax=axes[0], title="precision-recall")
    plot_precision_at_n(curves, ax=axes[1], title="precision@N")
    fig.tight_layout()
    return Captioned.of(fig, runs_about(chapter))


def retrieval_examples(run_dir: str | os.PathLike, n_queries: int = 5, top: int = 10):
    """Queries (one per class, up to ``n_queries``) and their ``top`` retrieved CIFAR-10 images by Hamming
    distance (stable order), framed green (same class) or red, from a run folder's ``codes.npz``/``splits.npz``;
    the images are re-read from the data root. Returns the (open) figure; ``ValueError`` when the data is missing."""
    from ..data import load_dataset
    from ..records.io import read_json

    codes = np.load(Path(run_dir) / "codes.npz")
    splits = np.load(Path(run_dir) / "splits.npz")
    record = read_json(Path(run_dir) / "metrics.json")
    split = record["split"]
    ds = load_dataset("cifar10", protocol=split["protocol"], seed=split["seed"],
                      **({"subset": split["subset"]} if split.get("subset") else {}))
    source, names = ds.views["image"], ds.class_names
    q, r = codes["image_query"].astype(np.int32), codes["image_retrieval"].astype(np.int32)
    ql, rl = codes["query_labels"].argmax(1), codes["retrieval_labels"].argmax(1)
    picks = [int(np.flatnonzero(ql == c)[0]) for c in np.unique(ql)[:n_queries]]
    fig, axes = plt.subplots(len(picks), top + 1, figsize=(1.1 * (top + 1), 1.25 * len(picks)), dpi=100)
    for row, i in enumerate(picks):
        distance = (q.shape[1] - r @ q[i]) // 2
        order = np.argsort(distance, kind="stable")[:top]
        cells = [(splits["query"][i], None)] + [(splits["retrieval"][j], rl[j] == ql[i]) for j in order]
        for col, (item, correct) in enumerate(cells):
            ax = axes[row, col]
            ax.imshow(source[int(item)])
            ax.set_xticks([])
            ax.set_yticks([])
            colour = "black" if correct is None else ("tab:green" if correct else "tab:red")
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3 if correct is not None else 1)
            if col == 0:
                ax.set_ylabel(names[ql[i]] if names else str(ql[i]), fontsize=8)
    fig.suptitle(f"query | top {top} by Hamming distance ({record['bits']} bits, profile {record['profile']})",
                 fontsize=9)
    fig.tight_layout()
    return fig


def examples_figure(chapter: ChapterRuns):
    """:func:`retrieval_examples` of a CIFAR-10 run with codes (fresh first): :class:`Captioned`, or a note saying
    why there are none (no such run, or the images are not on this machine)."""
    curve_runs = _curve_runs(chapter)
    cifar = curve_runs[(curve_runs["dataset"] == "cifar10") & (curve_runs["source"] == "fresh")] \
        if len(curve_runs) else curve_runs
    if not len(cifar):
        cifar = curve_runs[curve_runs["dataset"] == "cifar10"] if len(curve_runs) else curve_runs
    run = next((r for r in cifar.itertuples() if (Path(r.run_dir) / "codes.npz").is_file()), None)
    if run is None:
        return note("No CIFAR-10 run with codes (`codes.npz`) for this profile: no retrieval examples.")
    try:
        fig = retrieval_examples(run.run_dir)
    except ValueError as exc:   # e.g. the CIFAR-10 images are not on this machine
        return note(f"Retrieval examples need the CIFAR-10 images: {exc}")
    return Captioned.of(fig, f"{run.bits} bits, profile {run.profile} ({run.source}), device {run.device}, "
                             f"{str(run.date)[:10]}")


# ---------------------------------------------------------------------------------------------- pretraining

#: How the pretraining table names each ``settings["backbone"]`` (records from before the parameter: ``"hybrid"``),
#: in table order: (network, its weights).
BACKBONE_NAMES = {"hybrid": ("HybridHash {size} (hybrid conv + attention)", "none: from scratch"),
                  "efficientnet_lite0_frozen": ("EfficientNet-Lite0", "ImageNet, frozen"),
                  "efficientnet_lite0_finetune": ("EfficientNet-Lite0", "ImageNet, fine-tuned")}
_NO_PRETRAINED = "No HybridHash run with a pretrained front (`backbone` other than `\"hybrid\"`) was found."


def _backbone_of(settings) -> str:
    return (settings.get("backbone") if isinstance(settings, dict) else None) or "hybrid"


def pretraining_table(ok_runs: pd.DataFrame):
    """What ImageNet pretraining is worth. For each (profile, dataset, bits, seed) with a HybridHash run on a
    pretrained front (``settings["backbone"]`` other than ``"hybrid"``): that run and the from-scratch HybridHash
    runs of the same key, one row each with the network, its weights (from scratch / ImageNet frozen / ImageNet
    fine-tuned), input side, trainable parameters, mAP@all and mAP at the paper's cutoff (last epoch, deephash
    protocol; CIFAR-10's cutoff is all, so there the two agree), the best over epochs (selected on the test
    queries), train seconds, epochs, source, device and date. A group's rows come from one source: fresh when it
    has a fresh pretrained run, else committed. ``ok_runs``: finished :func:`load_runs` rows (``ChapterRuns.ok``).
    Returns a styled table, or a note when there is no pretrained run."""
    runs = ok_runs[ok_runs["method"] == METHOD] if len(ok_runs) else ok_runs
    if not len(runs):
        return note(_NO_PRETRAINED)
    runs = runs.assign(backbone=[_backbone_of(s) for s in runs["settings"]])
    rows = []
    for _, group in runs.groupby(["profile", "dataset", "bits", "seed"], sort=True):
        pretrained = group[group["backbone"] != "hybrid"]
        if not len(pretrained):
            continue
        source = "fresh" if (pretrained["source"] == "fresh").any() else "committed"
        rows += [_pretraining_row(run) for _, run in group[group["source"] == source].groupby("run_dir")]
    if not rows:
        return note(_NO_PRETRAINED)
    order = list(BACKBONE_NAMES)
    frame = pd.DataFrame(rows)
    frame["_order"] = [order.index(b) if b in order else len(order) for b in frame.pop("_backbone")]
    frame = frame.sort_values(["profile", "dataset", "bits", "seed", "_order"], kind="stable")
    frame = frame.drop(columns="_order").reset_index(drop=True)
    return style_table(frame, digits=4, caption="HybridHash's hash layer and loss on its own network (from scratch) "
                                                 "and on ImageNet EfficientNet-Lite0, frozen or fine-tuned (mAP: "
                                                 "deephash protocol, last epoch)")


def _map_of(rows: pd.DataFrame, topk) -> float:
    """mAP of the first deephash evaluation at ``topk`` (None = all) other than the best-on-test one; main first."""
    at = rows[(rows["protocol"] == "deephash") & (rows["evaluation"] != BEST_LABEL)
              & (rows["topk"].isna() if topk is None else rows["topk"] == topk)]
    at = at.assign(_main=at["evaluation"] != "main").sort_values("_main", kind="stable")
    return float(at["map"].iloc[0]) if len(at) else float("nan")


def _pretraining_row(run: pd.DataFrame) -> dict:
    """One row of :func:`pretraining_table` from the rows of one run folder."""
    from ..methods.hybridhash import TOPK

    main = run[run["evaluation"] == "main"].iloc[0]
    settings = main["settings"] if isinstance(main["settings"], dict) else {}
    backbone = _backbone_of(settings)
    name, weights = BACKBONE_NAMES.get(backbone, (backbone, "?"))
    cutoff = TOPK.get(main["dataset"])
    best = run[run["evaluation"] == BEST_LABEL]
    trainable = settings.get("trainable_parameters", settings.get("parameters"))
    seconds = main["train_seconds"]
    return {
        "profile": main["profile"], "dataset": dataset_name(main["dataset"]), "bits": int(main["bits"]),
        "seed": int(main["seed"]), "_backbone": backbone, "network": name.format(size=settings.get("model_size", "")),
        "weights": weights, "input px": (settings.get("model_config") or {}).get("image_size"),
        "trainable parameters": f"{int(trainable):,}" if trainable is not None else "",
        "mAP@all": _map_of(run, None), "paper cutoff": "all" if cutoff is None else f"@{cutoff}",
        "mAP at paper cutoff": _map_of(run, cutoff),
        "best on test (selected on test queries)": float(best["map"].iloc[0]) if len(best) else float("nan"),
        "train seconds": f"{float(seconds):.0f}" if seconds is not None and seconds == seconds else "",
        "epochs": main["epochs"], "source": main["source"], "device": main["device"],
        "date": str(main["date"])[:10]}
