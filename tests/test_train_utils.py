"""train/: seeding makes CPU runs repeatable; device resolution errors are clear; Stopwatch accumulates."""

import time

import numpy as np
import pytest
import torch

from hashlib_core.train import Stopwatch, describe_device, resolve_device, seed_everything, torch_generator


def _draw():
    return np.random.rand(3), torch.rand(3), torch.nn.Linear(4, 2).weight.detach().clone()


def test_seed_everything_repeats_numpy_and_torch_draws():
    seed_everything(123)
    first = _draw()
    seed_everything(123)
    second = _draw()
    seed_everything(124)
    third = _draw()
    for a, b in zip(first, second):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(first[0], third[0])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)


def test_torch_generator_is_seeded():
    a = torch.randperm(10, generator=torch_generator(5))
    b = torch.randperm(10, generator=torch_generator(5))
    assert torch.equal(a, b)


def test_resolve_device_auto_and_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert describe_device("cpu") == "cpu"


def test_resolve_device_errors_name_the_problem():
    with pytest.raises(ValueError, match="cannot parse"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_stopwatch_accumulates():
    watch = Stopwatch()
    with watch:
        time.sleep(0.01)
    with watch:
        time.sleep(0.01)
    assert 0.015 < watch.seconds < 1.0


def test_torch_threads_sets_and_restores_as_context_and_decorator():
    from hashlib_core.train import torch_threads

    before = torch.get_num_threads()
    with torch_threads(2):
        assert torch.get_num_threads() == 2
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before

    @torch_threads(1)
    def inner():
        return torch.get_num_threads()

    assert inner() == 1 and inner() == 1 and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="count"):
        with torch_threads(0):
            pass
