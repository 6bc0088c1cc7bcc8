"""Shared fixtures: real MNIST from $LATENTCRAFT_DATA_DIR (default ../shared/data/mnist)."""

import os
from pathlib import Path

import pytest
import torch

from latentcraft.data import DATA_DIR_ENV

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist"
os.environ.setdefault(DATA_DIR_ENV, str(DEFAULT_MNIST))
torch.set_num_threads(1)  # tests are small; one thread avoids oversubscribing CI's two cores


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = Path(os.environ[DATA_DIR_ENV])
    if not (path / "train-images-idx3-ubyte.gz").exists() and not (path / "train-images-idx3-ubyte").exists():
        pytest.fail(f"MNIST not found in {path}; set ${DATA_DIR_ENV}")
    return path
