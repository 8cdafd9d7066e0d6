"""The compiled kernels (numba on the CPU, Triton on CUDA) against today's engine and the slow reference.

Today's numpy engine (``backend="numpy"``) stays the reference the kernels must equal (max |difference| <= 1e-12);
the slow textbook reference (``metrics_reference``) checks both. Tie-heavy random problems: every protocol and
cutoff, both tie rules, 16- to 128-bit codes (one to two code words), more than 64 labels (several label words),
integer class ids, queries with nothing relevant, a single retrieval item and block/tile boundaries. The Triton
kernels run here under Triton's CPU interpreter (in a subprocess with ``TRITON_INTERPRET=1``) and are compiled for
an sm_90 GPU without one; the tests marked ``cuda`` run them on a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import metrics_reference as ref
from hashlib_core.metrics import (PROTOCOLS, average_precision_per_query, evaluate_retrieval,
                                  mean_average_precision_grid)
from hashlib_core.metrics import cpu_kernel
from hashlib_core.metrics.engine import default_backend, engine_options, prepare_problem, scan

needs_numba = pytest.mark.skipif(ref.numba_missing(), reason="numba is not installed")

TOPKS = (None, 1, 5, 37, 50, 1000)  # 37: inside a tie bucket; 1000 > retrieval size
CASES = {  # kind, bits, distinct codes, classes, queries, items
    "multi-16b": ("multi", 16, 4, 5, 12, 90),
    "ids-32b": ("ids", 32, 6, 4, 12, 90),
    "onehot-64b": ("onehot", 64, 5, 6, 12, 90),
    "multi-96b-70-labels": ("multi", 96, 4, 70, 11, 83),     # two code words, two 64-bit label words
    "multi-128b-130-labels": ("multi", 128, 3, 130, 9, 77),  # two code words, three label words
    "ids-128b": ("ids", 128, 5, 7, 10, 64),
}
NUMBA_ENGINES = {
    "numba": {"backend": "numba"},
    "numba-odd-blocks": {"backend": "numba", "query_block": 5, "item_tile": 7, "threads": 3},
    "numba-unit-blocks": {"backend": "numba", "query_block": 1, "item_tile": 1, "threads": 2},
}


def _close(a, b, atol=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=atol)


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(1515)
    out = {}
    for name, (kind, bits, distinct, classes, n_query, n_items) in CASES.items():
        q, r, ql, rl = ref.make_case(kind, rng, bits=bits, distinct=distinct, classes=classes, n_query=n_query,
                                     n_items=n_items)
        ranked = ref.ranked_relevance(q, r, ql, rl)
        expected = {(p, k): np.array([ref.average_precision(x, p, k) for x in ranked]) for p in PROTOCOLS
                    for k in TOPKS}
        out[name] = (q, r, ql, rl, expected)
    return out


def _curve_numbers(result: dict) -> np.ndarray:
    values = [result["map"][d] for d in sorted(result["map"])]
    for direction in sorted(result["curves"]):
        for curve in result["curves"][direction].values():
            for series in curve.values():
                values += [np.nan if v is None else v for v in series]
    return np.array(values, dtype=float)


# ---- numba: against the reference and today's engine ------------------------------------------------------------

@needs_numba
@pytest.mark.parametrize("engine", list(NUMBA_ENGINES))
@pytest.mark.parametrize("case", list(CASES))
def test_numba_index_ties_match_reference_and_engine(cases, case, engine):
    q, r, ql, rl, expected = cases[case]
    for protocol in PROTOCOLS:
        for topk in TOPKS:
            with engine_options(backend="numpy"):
                today = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol)
            with engine_options(**NUMBA_ENGINES[engine]):
                got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol)
            _close(got, expected[protocol, topk])
            _close(got, today)


@needs_numba
@pytest.mark.parametrize("case", list(CASES))
def test_numba_scan_statistics_equal_the_engine(cases, case):
    """Every field of the scan: histograms and counts exactly, sums to 1e-12; cutoffs unsorted and repeated."""
    q, r, ql, rl, _ = cases[case]
    n = r.shape[0]
    cutoffs, grid = (n, 5, 1, 5, 37), (1, 2, 5, 10, 36, 37, 38, n)
    stats = {}
    for backend, options in (("numpy", {}), ("numba", {"query_block": 4, "item_tile": 11})):
        with engine_options(backend=backend, **options):
            problem = prepare_problem(q, r, ql, rl)
            stats[backend] = scan(problem, histogram=True, cutoffs=cutoffs, first=True, grid=grid)
    a, b = stats["numpy"], stats["numba"]
    for name in ("hist", "rel_hist", "n_relevant", "count_topk", "grid_counts"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    for name in ("sum_topk", "sum_first"):
        np.testing.assert_allclose(getattr(b, name).numpy(), getattr(a, name).numpy(), rtol=0, atol=1e-12)
    assert b.cutoffs == a.cutoffs and b.grid == a.grid


@needs_numba
@pytest.mark.parametrize("case", list(CASES))
def test_numba_expected_ties_match_the_closed_forms_of_the_engine(cases, case):
    q, r, ql, rl, _ = cases[case]
    topks = (None, 1, 2, 5, 13, 37, 50, 1000)
    with engine_options(backend="numpy"):
        today = mean_average_precision_grid(q, r, ql, rl, ties=("expected",), topks=topks)
        per_query = {(p, k): average_precision_per_query(q, r, ql, rl, topk=k, protocol=p, ties="expected")
                     for p in PROTOCOLS for k in topks}
    with engine_options(backend="numba", query_block=3, item_tile=8):
        got = mean_average_precision_grid(q, r, ql, rl, ties=("expected",), topks=topks)
        for (protocol, topk), values in per_query.items():
            _close(average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties="expected"), values)
    assert [(row["protocol"], row["topk"]) for row in got] == [(row["protocol"], row["topk"]) for row in today]
    _close([row["map"] for row in got], [row["map"] for row in today])


@needs_numba
def test_numba_expected_ties_equal_the_average_over_all_tie_orders():
    rng = np.random.default_rng(23)
    checked = 0
    for _ in range(12):
        n_items = int(rng.integers(1, 6))
        q = ref.tie_heavy_codes(3, 3, 2, rng)
        r = ref.tie_heavy_codes(n_items, 3, 2, rng)
        ql, rl = rng.integers(0, 2, 3), rng.integers(0, 2, n_items)
        for protocol in PROTOCOLS:
            for topk in (None, 1, 2, 4):
                exact = ref.ap_exhaustive_expectation(q, r, ql, rl, protocol=protocol, topk=topk)
                with engine_options(backend="numba"):
                    got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties="expected")
                _close(got, exact)
                checked += int((~np.isnan(exact)).sum())
    assert checked > 50


@needs_numba
@pytest.mark.parametrize("ties", ["index", "expected"])
@pytest.mark.parametrize("case", ["multi-16b", "ids-32b", "multi-96b-70-labels"])
def test_numba_curves_match_the_engine(cases, case, ties):
    q, r, ql, rl, _ = cases[case]
    codes_q, codes_r = {"image": q, "text": -q}, {"image": r, "text": -r}
    for protocol in PROTOCOLS:
        with engine_options(backend="numpy"):
            today = evaluate_retrieval(codes_q, codes_r, ql, rl, protocol=protocol, topk=5, ties=ties)
        with engine_options(backend="numba", query_block=2, item_tile=13):
            got = evaluate_retrieval(codes_q, codes_r, ql, rl, protocol=protocol, topk=5, ties=ties)
        _close(_curve_numbers(got), _curve_numbers(today))
    if ties == "index":  # and precision@N of image -> text (codes q against -r) against the slow reference
        ns = got["curves"]["image->text"]["precision_at_n"]["n"]
        precision, _ = ref.precision_recall_at(ref.ranked_relevance(q, -r, ql, rl), ns)
        _close(got["curves"]["image->text"]["precision_at_n"]["precision"], precision.mean(axis=0))


@needs_numba
@pytest.mark.parametrize("kind", ["multi", "ids"])
def test_numba_single_retrieval_item(kind):
    rng = np.random.default_rng(3)
    for bits in (1, 64, 96):
        q, r, ql, rl = ref.make_case(kind, rng, n_query=6, n_items=1, bits=bits, distinct=2, classes=3)
        if kind == "multi":
            rl[0, 0] = 1  # some queries relevant, the last one (label 2 only) not
        ranked = ref.ranked_relevance(q, r, ql, rl)
        for protocol in PROTOCOLS:
            for topk in (None, 1, 7):
                expected = np.array([ref.average_precision(x, protocol, topk) for x in ranked])
                for ties in ("index", "expected"):  # one item: no ties to break
                    with engine_options(backend="numba", threads=2):
                        got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties=ties)
                    _close(got, expected)


@needs_numba
def test_numba_query_blocks_and_threads_cover_every_query_once():
    """More queries than blocks x threads, blocks that do not divide the query count, tiles that do not divide the
    retrieval set: every row of every table equals the engine's."""
    rng = np.random.default_rng(8)
    q, r, ql, rl = ref.make_case("multi", rng, n_query=53, n_items=61, bits=20, distinct=6, classes=5)
    with engine_options(backend="numpy"):
        today = scan(prepare_problem(q, r, ql, rl), histogram=True, cutoffs=(61, 7), first=True, grid=(3, 60))
    for threads, block, tile in ((1, 8, 2048), (2, 4, 10), (3, 7, 1), (4, 1, 61), (2, 64, 60)):
        with engine_options(backend="numba", threads=threads, query_block=block, item_tile=tile):
            got = scan(prepare_problem(q, r, ql, rl), histogram=True, cutoffs=(61, 7), first=True, grid=(3, 60))
        for name in ("hist", "rel_hist", "count_topk", "grid_counts"):
            assert torch.equal(getattr(got, name), getattr(today, name)), (name, threads, block, tile)
        np.testing.assert_allclose(got.sum_topk.numpy(), today.sum_topk.numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.sum_first.numpy(), today.sum_first.numpy(), rtol=0, atol=1e-12)


@needs_numba
def test_numba_pass_two_recomputes_keys_when_they_do_not_fit_the_buffer(cases, monkeypatch):
    q, r, ql, rl, expected = cases["multi-96b-70-labels"]
    monkeypatch.setattr(cpu_kernel, "_KEY_BUFFER", 0)  # as for a retrieval set too large to keep its keys
    for protocol in PROTOCOLS:
        for topk in TOPKS:
            with engine_options(backend="numba", query_block=3, item_tile=10):
                got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol)
            _close(got, expected[protocol, topk])


# ---- choice of engine, fallback, options -------------------------------------------------------------------------

def test_default_cpu_backend_is_the_compiled_kernel_when_numba_is_there(cases, monkeypatch):
    q, r, ql, rl, expected = cases["ids-32b"]
    assert default_backend(torch.device("cpu"), 32) == ("numpy" if ref.numba_missing() else "numba")
    monkeypatch.setattr(cpu_kernel, "numba", None)  # as on a machine without numba: today's engine
    assert default_backend(torch.device("cpu"), 32) == "numpy"
    assert prepare_problem(q, r, ql, rl).backend == "numpy"
    _close(average_precision_per_query(q, r, ql, rl, protocol="dcmh", topk=5), expected["dcmh", 5])
    with pytest.raises(ValueError, match="numba"), engine_options(backend="numba"):
        prepare_problem(q, r, ql, rl)


def test_engine_options_are_checked():
    with pytest.raises(ValueError, match="backend"), engine_options(backend="fortran"):
        pass
    for name in ("threads", "query_block", "item_tile"):
        with pytest.raises(ValueError, match=name), engine_options(**{name: 0}):
            pass


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.delenv("HASHLIB_EVAL_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_kernel.default_threads() == 3
    monkeypatch.setenv("HASHLIB_EVAL_THREADS", "2")
    assert cpu_kernel.default_threads() == 2
    monkeypatch.setenv("HASHLIB_EVAL_THREADS", "two")
    with pytest.raises(ValueError, match="HASHLIB_EVAL_THREADS"):
        cpu_kernel.default_threads()
    monkeypatch.delenv("HASHLIB_EVAL_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cpu_kernel.default_threads() >= 1


def test_triton_backend_is_refused_where_it_cannot_run(cases):
    q, r, ql, rl, _ = cases["ids-32b"]
    from hashlib_core.metrics import cuda_kernel

    if cuda_kernel.interpreting():
        pytest.skip("TRITON_INTERPRET is set: the triton backend runs on the CPU")
    with pytest.raises(ValueError, match="triton"), engine_options(backend="triton"):
        prepare_problem(q, r, ql, rl)
    assert cuda_kernel.unsupported_reason(torch.device("cuda"), 512) is not None  # too many bits for the kernels


# ---- Triton: interpreter on the CPU, compilation for a GPU, and the GPU itself -----------------------------------

TRITON_SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import torch
    sys.path.insert(0, {tests!r})
    import metrics_reference as ref
    from hashlib_core.metrics import PROTOCOLS, evaluate_retrieval, mean_average_precision_grid
    from hashlib_core.metrics import cuda_kernel
    from hashlib_core.metrics.engine import engine_options, prepare_problem, scan

    assert cuda_kernel.interpreting()
    rng = np.random.default_rng(31)
    worst = 0.0
    for kind, bits, classes, n_query, n_items, options in (
            ("multi", 64, 6, 9, 70, {{}}),
            ("ids", 32, 4, 6, 1, {{"query_block": 2, "item_tile": 8}}),        # one retrieval item
            ("multi", 96, 70, 7, 45, {{"query_block": 4, "item_tile": 16}}),   # > 64 labels, two code words
            ("ids", 128, 5, 5, 40, {{"query_block": 8, "item_tile": 32}})):
        q, r, ql, rl = ref.make_case(kind, rng, bits=bits, distinct=4, classes=classes, n_query=n_query,
                                     n_items=n_items)
        topks = (None, 1, 5, 37)
        cutoffs, grid = tuple(sorted({{min(k or n_items, n_items) for k in topks}})), tuple(range(1, n_items + 1, 3))
        stats, maps, curves = {{}}, {{}}, {{}}
        for backend in ("numpy", "triton"):
            with engine_options(backend=backend, **(options if backend == "triton" else {{}})):
                problem = prepare_problem(q, r, ql, rl)
                stats[backend] = scan(problem, histogram=True, cutoffs=cutoffs, first=True, grid=grid)
                maps[backend] = mean_average_precision_grid(q, r, ql, rl, topks=topks)
                curves[backend] = [evaluate_retrieval({{"x": q}}, {{"x": r}}, ql, rl, ties=t)
                                   for t in ("index", "expected")]
        a, b = stats["numpy"], stats["triton"]
        for name in ("hist", "rel_hist", "n_relevant", "count_topk", "grid_counts"):
            assert torch.equal(getattr(a, name), getattr(b, name).cpu()), (kind, bits, name)
        for name in ("sum_topk", "sum_first"):
            worst = max(worst, float((getattr(a, name) - getattr(b, name).cpu()).abs().max()))
        for x, y in zip(maps["numpy"], maps["triton"]):
            assert (x["protocol"], x["ties"], x["topk"]) == (y["protocol"], y["ties"], y["topk"])
            if not (np.isnan(x["map"]) and np.isnan(y["map"])):
                worst = max(worst, abs(x["map"] - y["map"]))
        assert curves["numpy"][0]["curves"].keys() == curves["triton"][0]["curves"].keys()
        for x, y in zip(curves["numpy"], curves["triton"]):
            worst = max(worst, abs(x["map"]["x->x"] - y["map"]["x->x"]))
            for name, curve in x["curves"]["x->x"].items():
                for key, series in curve.items():
                    other = y["curves"]["x->x"][name][key]
                    for u, v in zip(series, other):
                        assert (u is None) == (v is None)
                        if u is not None:
                            worst = max(worst, abs(u - v))
    assert worst <= 1e-12, worst
    assert cuda_kernel.self_check(torch.device("cpu"))
    print("worst", worst)
''')


@pytest.mark.skipif(not __import__("importlib").util.find_spec("triton"), reason="triton is not installed")
def test_triton_kernels_under_the_interpreter_match_the_engine(tmp_path):
    """The fused kernels, run by Triton's CPU interpreter, give the engine's numbers (exact counts, sums to
    1e-12), with blocks and tiles that do not divide the problem, one retrieval item, > 64 labels, 128 bits."""
    script = tmp_path / "triton_check.py"
    script.write_text(TRITON_SCRIPT.format(tests=str(Path(__file__).parent)))
    env = dict(os.environ, TRITON_INTERPRET="1", HASHLIB_PROGRESS="0")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600,
                          cwd=str(Path(__file__).parents[1]))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "worst" in done.stdout


def _ptxas_available() -> bool:
    try:
        import triton
    except ImportError:
        return False
    return (Path(triton.__path__[0]) / "backends" / "nvidia" / "bin" / "ptxas").exists()


@pytest.mark.skipif(not _ptxas_available(), reason="triton (with its bundled ptxas) is not installed")
def test_triton_kernels_compile_for_a_gpu_without_one():
    """Both kernels go through Triton's whole CUDA pipeline (to a cubin for sm_90, no GPU needed) in the variants
    the engine launches: one and two code words, class ids and label masks, with and without dcmh/grid terms."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from hashlib_core.metrics import cuda_kernel

    target = GPUTarget("cuda", 90, 32)
    pointers = {name: "*i64" for name in ("qw", "rw", "ql", "rl")}
    scalars = {name: "i32" for name in ("nq", "n_items", "seg_len", "S")}
    histogram = {**pointers, "seg_hist": "*i32", **scalars}
    rank = {**pointers, **{name: "*i32" for name in ("pos_base", "hit_base", "cutoffs", "limits", "slots")},
            "sums": "*fp64", "counts": "*i32", "firsts": "*fp64", "grid_slots": "*i32", **scalars}
    variants = [(cuda_kernel._histogram_kernel, histogram,
                 {"W": 1, "L": 1, "IDS": False, "POPC": True, "BQ": 4, "BN": 256, "NB2": 256}),
                (cuda_kernel._rank_kernel, rank,
                 {"W": 2, "L": 1, "IDS": True, "POPC": True, "BQ": 4, "BN": 32, "NBP": 128, "NCP": 2,
                  "FIRST": True, "GRID": True, "GP": 128}),
                (cuda_kernel._rank_kernel, rank,
                 {"W": 1, "L": 2, "IDS": False, "POPC": True, "BQ": 4, "BN": 32, "NBP": 128, "NCP": 1,
                  "FIRST": False, "GRID": False, "GP": 1})]
    for kernel, signature, constants in variants:
        signature = {**signature, **{name: "constexpr" for name in constants}}
        compiled = triton.compile(ASTSource(fn=kernel, signature=signature, constexprs=constants), target=target)
        assert len(compiled.asm["cubin"]) > 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_triton_kernels_match_the_engine_on_the_gpu():
    from hashlib_core.metrics import cuda_kernel

    assert cuda_kernel.self_check(torch.device("cuda"))
    rng = np.random.default_rng(41)
    for kind, bits, classes in (("multi", 64, 24), ("ids", 32, 10), ("multi", 128, 81)):
        q, r, ql, rl = ref.make_case(kind, rng, bits=bits, distinct=40, classes=classes, n_query=300,
                                     n_items=5000)
        topks = (None, 1, 50, 1000)
        with engine_options(backend="numpy"):
            today = mean_average_precision_grid(q, r, ql, rl, topks=topks)
            today_curves = [evaluate_retrieval({"x": q}, {"x": r}, ql, rl, ties=t) for t in ("index", "expected")]
        qc, rc = torch.from_numpy(q).cuda(), torch.from_numpy(r).cuda()
        assert prepare_problem(qc, rc, ql, rl).backend == "triton"
        got = mean_average_precision_grid(qc, rc, ql, rl, topks=topks)
        _close([row["map"] for row in got], [row["map"] for row in today])
        for ties, expected in zip(("index", "expected"), today_curves):
            _close(_curve_numbers(evaluate_retrieval({"x": qc}, {"x": rc}, ql, rl, ties=ties)),
                   _curve_numbers(expected))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_triton_memory_stays_bounded():
    """10,000 queries x 200,000 items: the fused scan allocates far less than one byte per (query, item) pair."""
    rng = np.random.default_rng(5)
    q = torch.from_numpy(np.where(rng.random((10000, 64)) < 0.5, 1, -1).astype(np.int8)).cuda()
    r = torch.from_numpy(np.where(rng.random((200000, 64)) < 0.5, 1, -1).astype(np.int8)).cuda()
    ql, rl = torch.from_numpy(rng.integers(0, 10, 10000)).cuda(), torch.from_numpy(rng.integers(0, 10, 200000)).cuda()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    for ties in ("index", "expected"):
        average_precision_per_query(q, r, ql, rl, ties=ties)
    torch.cuda.synchronize()
    assert torch.cuda.max_memory_allocated() - before < 0.05 * q.shape[0] * r.shape[0]
