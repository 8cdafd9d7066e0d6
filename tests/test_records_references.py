"""records/references.py: the packaged paper numbers load completely, typed, with record-form directions."""

import csv
from pathlib import Path

import pytest

from hashlib_core.records import references
from hashlib_core.records.references import load_references, metric_topk

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def _csv_rows(paper):
    with references.reference_path(paper).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("paper", sorted(references.PAPERS))
def test_every_csv_row_is_loaded_in_order_with_types(paper):
    raw = _csv_rows(paper)
    frame = load_references(paper)
    assert list(frame.columns) == list(references.COLUMNS)
    assert len(frame) == len(raw) > 0
    assert frame["bits"].dtype.kind == "i" and frame["value"].dtype.kind == "f"
    for row, (_, loaded) in zip(raw, frame.iterrows()):  # same order, same numbers
        assert loaded["method"] == row["method"] and loaded["dataset"] == row["dataset"]
        assert loaded["bits"] == int(row["bits"]) and loaded["value"] == float(row["value"])
        assert loaded["direction"] == references.DIRECTIONS[row["direction"]]
        assert loaded["table"] == row["table"]


def test_row_counts_and_directions_per_paper():
    dchn, djsrh, hybrid = (load_references(p) for p in ("dchn", "djsrh", "hybridhash"))
    assert (len(dchn), len(djsrh), len(hybrid)) == (416, 196, 4)
    assert set(dchn["direction"]) == set(djsrh["direction"]) == {"image->text", "text->image"}
    assert set(hybrid["direction"]) == {"image->image"}
    assert set(dchn["metric"]) == {"mAP@all"} and set(djsrh["metric"]) == {"mAP@50"}
    # the number a reader can check against the paper: DJSRH Table 2, NUS-WIDE, 64 bits, image->text
    row = djsrh[(djsrh["table"] == "2") & (djsrh["method"] == "DJSRH") & (djsrh["dataset"] == "nus_wide_tc10")
                & (djsrh["bits"] == 64) & (djsrh["direction"] == "image->text")]
    assert row["value"].tolist() == [0.798]


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/reference not beside this checkout")
@pytest.mark.parametrize("paper", sorted(references.PAPERS))
def test_packaged_copy_equals_the_shared_original(paper):
    packaged = references.reference_path(paper).read_bytes()
    assert packaged == (SHARED / references.PAPERS[paper]).read_bytes()


def test_unknown_paper_and_metric_are_value_errors():
    with pytest.raises(ValueError, match="unknown paper 'dcmh'"):
        load_references("dcmh")
    assert metric_topk("mAP@all") is None and metric_topk("mAP@50") == 50
    with pytest.raises(ValueError, match="metric"):
        metric_topk("P@100")


def test_malformed_csv_names_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text("source,table,method,dataset,direction,bits,metric,value\n"
                   "s,1,M,wikipedia,x2y,16,mAP@50,0.5\n", encoding="utf-8")
    monkeypatch.setattr(references, "reference_path", lambda paper: bad)
    with pytest.raises(ValueError, match=r"dchn_tcyb2021\.csv: unknown direction\(s\) \['x2y'\]"):
        load_references("dchn")
