"""Shared fixtures: real MNIST from $LATENTCRAFT_DATA_DIR (default ../shared/data/mnist), or its mnist/ subfolder."""

import os
from pathlib import Path

import pytest
import torch

from latentcraft.data import DATA_DIR_ENV, DataError, locate

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist"
os.environ.setdefault(DATA_DIR_ENV, str(DEFAULT_MNIST))
torch.set_num_threads(1)  # tests are small; one thread avoids oversubscribing CI's two cores


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding MNIST, found as the library finds it ($LATENTCRAFT_DATA_DIR or its mnist/ subfolder)."""
    try:
        return locate("mnist")
    except DataError as err:
        pytest.fail(str(err))
