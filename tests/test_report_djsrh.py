"""report/djsrh.py on fabricated DJSRH records (hand-made numbers, no training). ``evaluations_table`` and
``ablation_table`` themselves are tested in tests/test_djsrh.py; here the chapter's sections."""

import numpy as np
import pytest

from hashlib_core.methods.djsrh import PROFILES
from hashlib_core.records.io import atomic_write_json, atomic_write_npz
from hashlib_core.records.references import load_references
from hashlib_core.report import chapter as chapter_module
from hashlib_core.report import djsrh
from test_report_chapter import fabricate, fail

LABELS = djsrh.EVALUATIONS


def _also(cca, rnd, full):
    return [{"label": LABELS["DJSRH mAP@all"], "protocol": "deephash", "topk": None, "ties": "index", "map": full},
            {"label": LABELS["CCA mAP@50"], "protocol": "deephash", "topk": 50, "ties": "index", "map": cca},
            {"label": LABELS["random mAP@50"], "protocol": "deephash", "topk": 50, "ties": "index", "map": rnd}]


def _djsrh(root, *, bits=32, seed=0, value=0.3, cca=0.25, label=None, device="cpu",
           date="2026-01-02T03:04:05+00:00", **kw):
    both = lambda v: {"image->text": v, "text->image": v + 0.2}  # noqa: E731
    settings = {"hidden": 256, "beta": 0.3, "eta": 0.4, "mu": 1.5, "lambda1": 0.3, "alpha_schedule": "sqrt",
                "input_norm": "zscore", "center_features": True, "ema_decay": 0.999}
    history = [{"epoch": e, "loss": 3.0 / e, "loss_cross": 1.0 / e, "loss_image": 1.0 / e, "loss_text": 1.0 / e}
               for e in (1, 2)]
    return fabricate(root, method="djsrh", bits=bits, seed=seed, protocol="deephash", topk=50, map=both(value),
                     also=_also(both(cca), both(0.1), both(value - 0.05)), label=label, device=device, date=date,
                     settings=settings, history=history, **kw)


def _chapter(tmp_path):
    return chapter_module.ChapterRuns("djsrh", "smoke", tmp_path / "runs", tmp_path / "records")


def _ok(tmp_path):
    return _chapter(tmp_path).ok


def test_baselines_table_stamps_rows_and_says_how_far_djsrh_is_ahead(tmp_path):
    _djsrh(tmp_path / "runs", seed=0, value=0.30, date="2026-01-01T00:00:00+00:00")
    _djsrh(tmp_path / "runs", seed=1, value=0.40, device="cuda", date="2026-01-03T00:00:00+00:00")
    table, lines = djsrh.baselines_table(_ok(tmp_path))
    frame = table.data
    row = frame[frame["direction"] == "image->text"].iloc[0]
    assert row["DJSRH mAP@50"] == pytest.approx(0.35) and row["CCA mAP@50"] == pytest.approx(0.25)
    assert row["device"] == "cpu, cuda" and row["date"] == "2026-01-01 to 2026-01-03" and row["seeds"] == "0, 1"
    assert "- image->text, profile smoke (fresh, cpu, cuda, 2026-01-01 to 2026-01-03): DJSRH - CCA at mAP@50 = " \
           "+0.100 at 32 bits (n=2); random codes 0.100 to 0.100." in lines.data
    (empty,) = djsrh.baselines_table(_ok(tmp_path / "none"))
    assert empty.data == "No Wikipedia run of DJSRH was found for this profile."


def test_with_stamp_matches_rows_to_their_runs(tmp_path):
    _djsrh(tmp_path / "runs", seed=0, device="cpu")
    _djsrh(tmp_path / "runs", seed=0, bits=64, device="cuda", date="2026-02-02T00:00:00+00:00")
    ok = _ok(tmp_path)
    stamped = djsrh.with_stamp(djsrh.evaluations_table(ok, columns=("DJSRH mAP@50",)), ok)
    assert dict(zip(stamped["bits"], stamped["device"])) == {32: "cpu", 64: "cuda"}
    assert dict(zip(stamped["bits"], stamped["date"])) == {32: "2026-01-02", 64: "2026-02-02"}


def test_seed_table_per_seed_differences(tmp_path):
    _djsrh(tmp_path / "runs", seed=0, value=0.30, cca=0.35)
    _djsrh(tmp_path / "runs", seed=1, value=0.40, cca=0.25)
    table, lines = djsrh.seed_table(_chapter(tmp_path), dataset="wikipedia", bits=32)
    frame = table.data
    assert frame[frame["direction"] == "image->text"]["DJSRH - CCA"].tolist() == pytest.approx([-0.05, 0.15])
    assert "DJSRH ahead of CCA at mAP@50 for 1 of 2 seeds (mean difference +0.050, range -0.050 to +0.150)" \
        in lines.data
    assert djsrh.seed_table(_chapter(tmp_path), bits=128)[0].data == "No 32-bit Wikipedia run for this profile."


def test_what_ran_groups_ablation_and_convention_runs(tmp_path):
    _djsrh(tmp_path / "runs")
    _djsrh(tmp_path / "runs", bits=64, label="ablation-1-S_I")
    _djsrh(tmp_path / "runs", bits=64, label="ablation-2-S_T")
    _djsrh(tmp_path / "runs", label="authors-recipe")
    fail(tmp_path / "runs", method="djsrh", bits=128, message="out of memory")
    shown = djsrh.what_ran(_chapter(tmp_path))
    frame = shown[0].data
    assert dict(zip(frame["runs of"], frame["runs"])) == {"(main)": 1, "ablation": 2, "authors-recipe": 1}
    assert frame.iloc[0]["weight averaging"] == "0.999" and frame.iloc[0]["lambda"] == "0.3"
    assert list(shown[2].data["error"]) == ["ValueError: out of memory"]


def test_paper_table_and_wikipedia_comparison(tmp_path):
    _djsrh(tmp_path / "runs", value=0.3)
    references = load_references("djsrh")
    table, comparison = djsrh.paper_table(_ok(tmp_path), references)
    frame = table.data
    ours = [name for name in frame.index if name.startswith("ours")]
    assert len(ours) == 1 and frame.loc[ours[0], ("wikipedia", "image->text", 32)] == pytest.approx(0.3)
    assert table.caption.startswith("Table 2 (mAP@50")
    cell = comparison.data.set_index(["direction", "bits"]).loc[("text->image", 32)]
    paper = references[(references["table"].astype(str) == "2") & (references["method"] == "DJSRH")
                       & (references["dataset"] == "wikipedia") & (references["direction"] == "text->image")
                       & (references["bits"] == 32)]["value"].iloc[0]
    assert cell["diff"] == pytest.approx(0.5 - paper)
    assert len(djsrh.paper_table(_ok(tmp_path / "none"), references)) == 1  # no run: the paper's table only


def test_conventions_table_needs_a_variant(tmp_path):
    _djsrh(tmp_path / "runs", value=0.3)
    assert djsrh.conventions_table(_ok(tmp_path)).data == "No runs of the convention variants for this profile."
    _djsrh(tmp_path / "runs", value=0.2, label="no-weight-averaging")
    _djsrh(tmp_path / "runs", value=0.1, label="no-weight-averaging", seed=1)  # seed 1: not in this table
    frame = djsrh.conventions_table(_ok(tmp_path)).data
    assert frame.groupby("label")["DJSRH mAP@50"].min().to_dict() == pytest.approx(
        {"(main)": 0.3, "no-weight-averaging": 0.2})


def test_ablation_caption_counts_the_runs(tmp_path):
    _djsrh(tmp_path / "runs", bits=64, label="ablation-1-S_I", value=0.21)
    _djsrh(tmp_path / "runs", bits=64, label="ablation-2-S_T", value=0.22)
    shown = djsrh.ablation(_ok(tmp_path), load_references("djsrh"))
    assert "ours (smoke): 2 runs, cpu, 2026-01-02." in shown.caption
    assert shown.data.loc[shown.data.index[1], ("ours (wikipedia, smoke)", "image->text", 64)] == pytest.approx(0.22)
    assert djsrh.ablation(_ok(tmp_path / "none"), load_references("djsrh")).data == "No ablation runs for this profile."


def test_training_fold_study_reads_committed_output(tmp_path):
    study = {"dataset": "wikipedia", "bits": 32, "profile": "default", "device": "cpu", "date": "2026-01-05T00:00",
             "folds": [0, 1], "seeds": [0], "queries": 500,
             "means": [{"setting": {"ema_decay": 0.999}, "n": 2, "image->text": 0.31},
                       {"setting": {"ema_decay": 0.0}, "n": 2, "image->text": 0.28}],
             "paired_differences": [{"setting": {"ema_decay": 0.999}, "against": {"ema_decay": 0.0}, "n": 2,
                                     "image->text mean difference": 0.03, "image->text standard error": 0.01,
                                     "text->image mean difference": -0.001, "text->image standard error": 0.002}]}
    atomic_write_json(tmp_path / "djsrh_weight_averaging_32.json", study)
    about, means, diffs = djsrh.training_fold_study(tmp_path)
    assert about.data.startswith("**wikipedia, 32 bits**, profile `default` on the cpu, 2026-01-05")
    assert means.data["setting"].tolist() == ["ema_decay=0.999", "ema_decay=0.0"] and "runs" in means.data
    assert diffs.data.iloc[0]["image->text: paired difference"] == "+0.0300 ± 0.0100"
    assert djsrh.training_fold_study(tmp_path / "empty")[0].data.startswith("No committed study output")


def test_precision_figure_cuts_at_the_limit_and_adds_baselines(tmp_path):
    curve = {"precision_at_n": {"n": [1, 1000, 2000, 3000], "precision": [1.0, 0.5, 0.4, 0.3]}}
    curves = {d: curve for d in ("image->text", "text->image")}
    run_dir = _djsrh(tmp_path / "runs", curves=curves)
    atomic_write_json(run_dir / "baselines.json", {"curves": {f"{name} {d}": curve for name in
                                                              ("CCA baseline", "random codes") for d in curves}})
    captioned = djsrh.precision_figure(_chapter(tmp_path), limit=2000)
    ax = captioned.figure.axes[0]
    assert [line.get_label() for line in ax.lines] == ["DJSRH 32 bits", "CCA baseline 32 bits", "random codes 32 bits"]
    assert list(ax.lines[0].get_xdata()) == [1, 1000, 2000]
    assert "and the CCA and random-code baselines at 32 bits" in captioned.about
    assert djsrh.precision_figure(_chapter(tmp_path / "none")).data == "No Wikipedia curves to draw for this profile."


def test_published_map_definitions_side_by_side():
    table, ranges = djsrh.published_map_definitions(load_references("djsrh"), load_references("dchn"))
    frame = table.data
    assert len(frame) > 0 and (frame["difference"] ==
                               frame["DJSRH paper, mAP@50"] - frame["DCHN paper, mAP@all"]).all()
    assert ranges.data.startswith(f"DJSRH's paper: {frame['DJSRH paper, mAP@50'].min():.2f}")


def test_map_gap_table(tmp_path):
    assert djsrh.map_gap_table(_ok(tmp_path)) is None
    _djsrh(tmp_path / "runs", value=0.3)
    frame = djsrh.map_gap_table(_ok(tmp_path)).data
    assert frame["DJSRH mAP@50 - mAP@all"].tolist() == pytest.approx([0.05, 0.05])
    assert list(frame.columns[-3:]) == ["DJSRH mAP@50 - mAP@all", "device", "date"]


def test_per_query_gap_recomputes_from_codes(tmp_path):
    # one query code, four retrieval items at Hamming distances 0, 4, 1, 1; relevant: items 0 and 3 ->
    # ranking 0, 2, 3, 1 (ties by index), AP = (1/1 + 2/3) / 2 over the whole list and within the top 50
    query = np.array([[1, 1, 1, 1]] * 2, dtype=np.int8)
    retrieval = np.array([[1, 1, 1, 1], [-1, -1, -1, -1], [1, 1, 1, -1], [-1, 1, 1, 1]], dtype=np.int8)
    labels_q = np.array([[1, 0], [1, 0]], dtype=np.uint8)
    labels_r = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.uint8)
    curve = {"precision_at_n": {"n": [1, 50], "precision": [1.0, 0.04]}}
    run_dir = _djsrh(tmp_path / "runs", bits=4, curves={"image->text": curve, "text->image": curve})
    atomic_write_npz(run_dir / "codes.npz", image_query=query, text_query=query, image_retrieval=retrieval,
                     text_retrieval=retrieval, query_labels=labels_q, retrieval_labels=labels_r)
    table, lines = djsrh.per_query_gap(_chapter(tmp_path))
    row = table.data.iloc[0]
    assert row["mAP@50"] == pytest.approx((1 + 2 / 3) / 2) and row["mAP@all"] == pytest.approx((1 + 2 / 3) / 2)
    assert row["queries with AP@50 > AP@all"] == "0%" and row["relevant in top 50 (mean)"] == pytest.approx(2.0)
    assert row["relevant in all (mean R)"] == 2.0
    assert "out of 2 relevant items in all" in lines.data
    (none,) = djsrh.per_query_gap(_chapter(tmp_path / "none"))
    assert none.data.startswith("No Wikipedia run with codes")


def test_training_curves_and_profiles(tmp_path):
    _djsrh(tmp_path / "runs")
    fig = djsrh.training_curves(_chapter(tmp_path))
    assert [line.get_label() for line in fig.axes[0].lines] == ["loss", "loss_cross", "loss_image", "loss_text"]
    assert djsrh.training_curves(_chapter(tmp_path), bits=16).data == "No Wikipedia 32-bit run for this profile."
    table = djsrh.profiles_table("wikipedia")
    assert list(table.columns) == list(PROFILES) and "backbone" not in table.index and "epochs" in table.index


def test_missing_data_note_names_files():
    status = {"status": "partial", "present": ["/data/x/labels.mat"], "missing": ["images.mat"], "obtain": "a link"}
    text = djsrh.missing_data_note(["mirflickr25k"], status_of=lambda name: status).data
    assert text.startswith("- `mirflickr25k`: partial here (present: labels.mat; missing: images.mat). To obtain: "
                           "a link.") and "backbone=\\\"alexnet\\\"" not in text and "alexnet" in text
