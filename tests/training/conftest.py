"""Training tests run torch on one thread: the tiny model's matrices are too small to gain from a
second thread, and on a busy 2-core machine OpenMP's spinning threads make them ~20x slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
