"""cli.py: per-method --help lists every parameter; input errors are one `error:` line with exit status 2; bugs keep
their traceback; --force reaches the method's run()."""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import hashlib_core.methods as methods_pkg
from hashlib_core.cli import INPUT_ERROR_STATUS, _parse_param, main, method_parameters_help
from hashlib_core.methods import METHODS, get_method

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", METHODS)
def test_every_parameter_has_one_help_line(name):
    module = get_method(name)
    help_lines = getattr(module, "PARAMETER_HELP", None)
    assert isinstance(help_lines, dict), f"methods/{name}.py has no PARAMETER_HELP dict"
    assert set(help_lines) == set(module.PARAMETERS), (
        f"{name}: parameters without a help line {sorted(set(module.PARAMETERS) - set(help_lines))}, "
        f"help lines without a parameter {sorted(set(help_lines) - set(module.PARAMETERS))}")
    for key, text in help_lines.items():
        assert isinstance(text, str) and text.strip() and "\n" not in text, (name, key)


@pytest.mark.parametrize("name", METHODS)
def test_run_method_help_lists_parameters_with_defaults(name, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", name, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    module = get_method(name)
    assert f"method parameters of {name}" in out and "--force" in out and "--dataset" in out
    block = out.split(f"method parameters of {name}", 1)[1]
    flat = " ".join(block.split())  # undo the wrapping
    for key, default in module.PARAMETERS.items():
        entry = f" {key} {' '.join(module.PARAMETER_HELP[key].split())} [default: {json.dumps(default)}]"
        assert entry in flat, (name, key)


def test_parameter_block_keeps_declaration_order_and_wraps():
    fake = types.SimpleNamespace(METHOD="fake", PARAMETERS={"zeta": 1, "alpha": None},
                                 PARAMETER_HELP={"zeta": "word " * 40, "alpha": "short"})
    text = method_parameters_help(fake, width=70)
    assert all(len(line) <= 70 for line in text.splitlines())
    assert text.index("  zeta ") < text.index("  alpha ")
    assert "[default: null]" in text and "[default: 1]" in text


def test_parse_param_values():
    assert _parse_param("alpha=0.02") == ("alpha", 0.02)
    assert _parse_param("ema_decay=None") == ("ema_decay", None)
    assert _parse_param("ema_decay=null") == ("ema_decay", None)
    assert _parse_param("center_features=False") == ("center_features", False)
    assert _parse_param('data_options={"subset": 10}') == ("data_options", {"subset": 10})
    assert _parse_param("views=fou") == ("views", "fou")


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("argv, needle", [
    (["run", "dchn", "--dataset", "mfeat", "--bits", "x", "--out-dir", "o"], "argument --bits: invalid int value: 'x'"),
    (["run", "nosuch", "--dataset", "mfeat"], "invalid choice: 'nosuch'"),
    (["run", "dchn", "--bits", "16"], "the following arguments are required: --dataset, --out-dir"),
    (["run", "dchn", "--dataset", "mfeat", "--bits", "16", "--out-dir", "o", "--param", "alpha"], "expected NAME=VALUE"),
    (["run", "dchn", "--dataset", "mfeat", "--bits", "16", "--out-dir", "o", "--profile", "huge"],
     "argument --profile: invalid choice: 'huge'"),
    (["book", "--jobs", "many"], "argument --jobs: invalid int value: 'many'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_argument_errors_are_one_line_and_status_2(argv, needle, capsys):
    assert main(argv) == INPUT_ERROR_STATUS
    assert needle in _one_error_line(capsys)


def test_unknown_method_parameter_is_an_input_error(tmp_path, capsys):
    argv = ["run", "dchn", "--dataset", "mfeat", "--bits", "16", "--out-dir", str(tmp_path / "o"),
            "--param", "learning_speed=3"]
    assert main(argv) == INPUT_ERROR_STATUS
    line = _one_error_line(capsys)
    assert "learning_speed" in line and "available_num" in line
    assert not (tmp_path / "o").exists()


def test_library_value_error_keeps_its_message(tmp_path, capsys):
    """The one line is the library's own message (DCHN's alpha check), not a paraphrase."""
    dchn = get_method("dchn")
    with pytest.raises(ValueError) as raised:
        dchn.run(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "direct", alpha=5)
    argv = ["run", "dchn", "--dataset", "mfeat", "--bits", "16", "--profile", "smoke",
            "--out-dir", str(tmp_path / "cli"), "--param", "alpha=5"]
    assert main(argv) == INPUT_ERROR_STATUS
    assert _one_error_line(capsys) == f"error: {raised.value}"


def test_dataset_error_is_one_line(tmp_path, capsys):
    from hashlib_core.data import DatasetError, load_dataset

    with pytest.raises(DatasetError) as raised:
        load_dataset("wikipedia", root=tmp_path / "empty")
    argv = ["run", "dchn", "--dataset", "wikipedia", "--bits", "16", "--profile", "smoke",
            "--data-root", str(tmp_path / "empty"), "--out-dir", str(tmp_path / "o")]
    assert main(argv) == INPUT_ERROR_STATUS
    assert _one_error_line(capsys) == "error: " + " ".join(str(raised.value).split())


class _FakeResult:
    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)

    def map_table(self):
        import pandas as pd

        return pd.DataFrame({"direction": ["a->b"], "map": [0.5]})


def _fake_method(calls, exc=None):
    def run(**kwargs):
        calls.append(kwargs)
        if exc is not None:
            raise exc
        Path(kwargs["out_dir"]).mkdir(parents=True, exist_ok=True)
        return _FakeResult(kwargs["out_dir"])

    return types.SimpleNamespace(METHOD="dchn", PARAMETERS={"alpha": 0.02}, PARAMETER_HELP={"alpha": "a"}, run=run)


@pytest.fixture
def fake_dchn(monkeypatch):
    calls = []
    state = {"exc": None}
    monkeypatch.setattr(methods_pkg, "get_method", lambda name: _fake_method(calls, state["exc"]))
    monkeypatch.setattr("hashlib_core.records.manifest.write_manifest", lambda *a, **k: {})
    return calls, state


def test_force_reaches_run_only_when_given(fake_dchn, tmp_path, capsys):
    calls, _ = fake_dchn
    base = ["run", "dchn", "--dataset", "mfeat", "--bits", "8", "--out-dir", str(tmp_path / "o"),
            "--param", "alpha=0.5"]
    assert main(base) == 0
    assert main([*base, "--force"]) == 0
    assert "force" not in calls[0] and calls[1]["force"] is True
    assert calls[0]["alpha"] == 0.5 and calls[0]["bits"] == 8 and calls[0]["profile"] == "default"
    assert "wrote" in capsys.readouterr().out


def test_a_bug_keeps_its_traceback(fake_dchn, tmp_path):
    _, state = fake_dchn
    state["exc"] = KeyError("internal")
    with pytest.raises(KeyError, match="internal"):
        main(["run", "dchn", "--dataset", "mfeat", "--bits", "8", "--out-dir", str(tmp_path / "o")])


def test_traceback_flag_shows_input_errors_in_full(fake_dchn, tmp_path):
    _, state = fake_dchn
    state["exc"] = ValueError("bits must be even")
    argv = ["run", "dchn", "--dataset", "mfeat", "--bits", "8", "--out-dir", str(tmp_path / "o")]
    assert main(argv) == INPUT_ERROR_STATUS
    with pytest.raises(ValueError, match="bits must be even"):
        main(["--traceback", *argv])


def test_process_exit_status_and_stderr():
    """The real ``python -m hashlib_core`` process: status 2, one stderr line, nothing on stdout."""
    done = subprocess.run([sys.executable, "-m", "hashlib_core", "run", "djsrh", "--dataset", "wikipedia",
                           "--bits", "sixteen", "--out-dir", "o"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: argument --bits: invalid int value: 'sixteen' (see 'python -m hashlib_core run djsrh --help')"]
