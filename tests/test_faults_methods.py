"""Every method's run() checks its out_dir before it loads data or trains (issue 17: no silent overwrite,
unwritable output), and a real smoke run honours the rule end to end."""

import os
from pathlib import Path

import pytest

from hashlib_core.methods import dchn, djsrh, hybridhash
from hashlib_core.records.io import read_json
from hashlib_core.records.run import RunFolderError

from test_faults_records import finish

DATA = Path(os.environ.get("HASHLIB_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _never(*args, **kwargs):
    raise AssertionError("the run went past its out_dir check")


# (method module, its first data/training step, a dataset for the call)
METHODS = [(dchn, "_prepare", "mfeat"), (djsrh, "_load", "wikipedia"), (hybridhash, None, "cifar10")]


@pytest.mark.parametrize("module, first_step, dataset", METHODS, ids=lambda v: getattr(v, "METHOD", None))
def test_run_refuses_another_finished_run_before_any_work(tmp_path, monkeypatch, module, first_step, dataset):
    if first_step:
        monkeypatch.setattr(module, first_step, _never)
    else:
        import hashlib_core.data

        monkeypatch.setattr(hashlib_core.data, "load_dataset", _never)
    out = tmp_path / "run"
    finish(out)  # a finished dchn run on the tiny set
    before = (out / "metrics.json").read_bytes()
    with pytest.raises(RunFolderError) as info:
        module.run(dataset=dataset, bits=16, profile="smoke", out_dir=out)
    assert str(out) in str(info.value) and f"dataset: 'tiny' there, '{dataset}' here" in str(info.value)
    assert (out / "metrics.json").read_bytes() == before
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RunFolderError, match="a-file/run: cannot be written"):
        module.run(dataset=dataset, bits=16, profile="smoke", out_dir=tmp_path / "a-file" / "run")


@pytest.mark.skipif(not (DATA / "wikipedia").is_dir(), reason=f"no wikipedia folder in {DATA}")
def test_real_run_same_settings_replace_other_settings_refused(tmp_path, capsys):
    out = tmp_path / "run"
    first = djsrh.run(dataset="wikipedia", bits=16, profile="smoke", out_dir=out, data_root=DATA)
    request = read_json(out / "metrics.json")["request"]
    assert request["method"] == "djsrh" and request["bits"] == 16 and request["params"]["recipe"] is None
    assert (out / "baselines.json").is_file() and first.replaced is None
    with pytest.raises(RunFolderError, match=r"other settings \(bits: 16 there, 32 here\); choose another out_dir, or pass force"):
        djsrh.run(dataset="wikipedia", bits=32, profile="smoke", out_dir=out, data_root=DATA)
    capsys.readouterr()
    again = djsrh.run(dataset="wikipedia", bits=16, profile="smoke", out_dir=out, data_root=DATA)
    assert again.replaced == "same settings" and "replaced the finished run" in capsys.readouterr().err
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]
