"""The CUDA code path (torch backend on the GPU) against the reference and the CPU engine; skipped without CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics_reference as ref
from hashlib_core.metrics import (PROTOCOLS, average_precision_per_query, evaluate_retrieval, hamming_distance,
                                  mean_average_precision_grid, precision_at_n, precision_recall_within_radius)
from hashlib_core.metrics.engine import engine_options, prepare_problem

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUDA_ENGINES = {"default": {}, "multichunk": {"item_chunk": 16, "max_elements": 80},
                "float32": {"matmul_dtype": torch.float32}}


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(20240611)
    return {kind: ref.make_case(kind, rng, bits=bits, distinct=5, classes=classes)
            for kind, bits, classes in (("multi", 16, 5), ("ids", 32, 4), ("onehot", 64, 6))}


def test_cuda_inputs_run_on_the_gpu(cases):
    q, r, ql, rl = cases["multi"]
    problem = prepare_problem(torch.from_numpy(q).cuda(), torch.from_numpy(r).cuda(), ql, rl)
    assert problem.device.type == "cuda" and problem.backend == "torch"
    assert problem.query_operands.is_cuda and problem.labels.query.is_cuda
    assert prepare_problem(q, r, ql, rl, device="cuda").device.type == "cuda"


@pytest.mark.parametrize("engine", list(CUDA_ENGINES))
@pytest.mark.parametrize("kind", ["multi", "ids", "onehot"])
def test_cuda_index_ties_match_reference(cases, kind, engine):
    q, r, ql, rl = cases[kind]
    ranked = ref.ranked_relevance(q, r, ql, rl)
    with engine_options(**CUDA_ENGINES[engine]):
        for protocol in PROTOCOLS:
            for topk in (None, 1, 5, 50, 1000):
                expected = np.array([ref.average_precision(x, protocol, topk) for x in ranked])
                got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, device="cuda")
                assert np.array_equal(np.isnan(got), np.isnan(expected))
                np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=0, atol=1e-12)


@pytest.mark.parametrize("engine", list(CUDA_ENGINES))
def test_cuda_expected_ties_match_exhaustive(engine):
    rng = np.random.default_rng(7)
    for _ in range(8):
        q = ref.tie_heavy_codes(3, 4, 2, rng)
        r = ref.tie_heavy_codes(5, 4, 2, rng)
        ql, rl = rng.integers(0, 2, 3), rng.integers(0, 2, 5)
        for protocol in PROTOCOLS:
            for topk in (None, 1, 2, 4):
                exact = ref.ap_exhaustive_expectation(q, r, ql, rl, protocol=protocol, topk=topk)
                with engine_options(**CUDA_ENGINES[engine]):
                    got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties="expected",
                                                      device="cuda")
                assert np.array_equal(np.isnan(got), np.isnan(exact))
                np.testing.assert_allclose(got[~np.isnan(got)], exact[~np.isnan(exact)], rtol=0, atol=1e-12)


def test_cuda_equals_cpu_on_a_larger_problem():
    rng = np.random.default_rng(1)
    q = ref.tie_heavy_codes(300, 64, 200, rng)
    r = ref.tie_heavy_codes(20000, 64, 2000, rng)
    ql = (rng.random((300, 24)) < 0.1).astype(np.uint8)
    rl = (rng.random((20000, 24)) < 0.1).astype(np.uint8)
    topks = (None, 50, 1000)
    cpu = mean_average_precision_grid(q, r, ql, rl, topks=topks, device="cpu")
    gpu = mean_average_precision_grid(torch.from_numpy(q).cuda(), torch.from_numpy(r).cuda(), ql, rl, topks=topks)
    for a, b in zip(cpu, gpu):
        assert (a["protocol"], a["ties"], a["topk"]) == (b["protocol"], b["ties"], b["topk"])
        assert a["map"] == pytest.approx(b["map"], abs=1e-12)
    with engine_options(item_chunk=4096):  # several retrieval chunks on the GPU
        chunked = mean_average_precision_grid(q, r, ql, rl, topks=topks, device="cuda")
    for a, b in zip(cpu, chunked):
        assert a["map"] == pytest.approx(b["map"], abs=1e-12)
    for ties in ("index", "expected"):
        np.testing.assert_allclose(precision_at_n(q, r, ql, rl, ties=ties, device="cuda")["precision"],
                                   precision_at_n(q, r, ql, rl, ties=ties)["precision"], rtol=0, atol=1e-12)
    cpu_radius = precision_recall_within_radius(q, r, ql, rl)
    gpu_radius = precision_recall_within_radius(q, r, ql, rl, device="cuda")
    np.testing.assert_allclose(gpu_radius["precision"], cpu_radius["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(gpu_radius["recall"], cpu_radius["recall"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(hamming_distance(q[:20], r[:50], device="cuda"), hamming_distance(q[:20], r[:50]))


def test_cuda_evaluate_retrieval_equals_cpu(cases):
    q, r, ql, rl = cases["onehot"]
    cpu = evaluate_retrieval({"image": q, "text": q}, {"image": r, "text": r}, ql, rl, protocol="dchn")
    gpu = evaluate_retrieval({"image": q, "text": q}, {"image": r, "text": r}, ql, rl, protocol="dchn",
                             device="cuda")
    assert cpu["map"] == pytest.approx(gpu["map"], abs=1e-12)
    for direction in cpu["curves"]:
        for key in ("precision_at_n", "radius", "pr"):
            for name, values in cpu["curves"][direction][key].items():
                assert gpu["curves"][direction][key][name] == pytest.approx(values, abs=1e-12, nan_ok=True)
