"""The run config's core sections (data, model, objective, train) and what every technique section shares.

A technique's own section (routing, style, prior, ...) is declared by the
technique itself (techniques/*.py) as a subclass of `TechniqueSettings`; the
full `Config` (run_config.py) assembles the core sections and those of the
technique registry. Modules below the techniques see a run config only through
`RunSpec`: its core sections and `section(name)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Upper bounds: past them a typo (latent_dim=100000000) would exhaust memory or threads, or run for ever, not train.
# Each is far above any real use; validate() and the techniques' check_settings name them in the message.
MAX_LAYER_SIZE, MAX_THREADS, MAX_SEED = 8192, 256, 2**32 - 1
MAX_EPOCHS = 100_000  # train.epochs and every epoch count (warm-up, schedule starts)
MAX_BATCH = 1_000_000  # train.batch_size, train.eval_batch_size
MAX_IMAGES = 10_000_000  # data.train_limit, data.test_limit, data.labels_per_class (MNIST has 60,000 + 10,000)


@dataclass
class DataConfig:
    dataset: str = "mnist"  # a built-in dataset: "mnist", "fashion-mnist", or a generated one ("shapes", "blobs")
    path: str | None = None  # your own data instead: image-folder tree, .npz, or Hugging Face save_to_disk folder
    test_fraction: float = 0.1  # data.path without its own test split: this stratified share is held out
    split_seed: int = 0  # seeds that held-out split, so every command of a run sees the same one
    image_column: str | None = None  # Hugging Face data: the image column (None = the one image column there is)
    label_column: str | None = None  # Hugging Face data: the label column (None = the one ClassLabel column)
    # Recorded from the data when training starts (empty: an MNIST-format run, 28 x 28 grey, 10 digits):
    image_shape: list[int] = field(default_factory=list)  # [height, width, channels]
    class_names: list[str] = field(default_factory=list)  # index = label
    data_dir: str | None = None  # folder with the IDX files; None = search the usual places
    download: bool = False  # fetch missing files from the standard mirrors (checksummed)
    train_limit: int = 0  # use only the first N training images (0 = all 60,000; at most MAX_IMAGES)
    test_limit: int = 0  # use only the first N test images (0 = all 10,000; at most MAX_IMAGES)
    labelled_fraction: float = 1.0  # share of training examples that keep their label (rest: -1)
    labels_per_class: int = 0  # > 0: exactly this many training examples of each class keep their label
    labelled_share: float = 0.0  # with hidden labels: this share of every batch is drawn from the labelled examples
    augment: bool = False  # random small shifts/rotations of training batches
    augment_shift: float = 2.0  # max shift, pixels
    augment_rotate: float = 10.0  # max rotation, degrees
    augment_stroke: float = 0.0  # share of augmented images drawn one pixel thicker or thinner (half each)
    # True: the model reconstructs the augmented batch. False: it reconstructs the clean batch, and the augmented
    # view enters only label-free terms that compare views (routing.consistency), so the ELBO fits the data as is
    reconstruct_augmented: bool = True


@dataclass
class ModelConfig:
    body: str = "mlp"  # encoder/decoder body, a key of model.bodies.BODIES ("mlp", "conv")
    encoder_hidden: list[int] = field(default_factory=lambda: [512, 256])  # MLP hidden sizes, input side first
    decoder_hidden: list[int] = field(default_factory=lambda: [256, 512])  # MLP hidden sizes, latent side first
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])  # conv body channels per stride-2 stage
    latent_dim: int = 10  # size of z, coordinates of techniques' own encoders (style) included
    relu_latent: bool = False  # ReLU on the main encoder's coordinates, so "more of k" is the positive direction
    deterministic: bool = False  # plain autoencoder: z = μ, no sampling, no KL


@dataclass
class ObjectiveConfig:
    kind: str = "elbo"  # "elbo" (principled) or "reference" (the original routed loss, std/log-variance quirk included)
    # "bce" (Bernoulli, logits), "gaussian" (unit variance: summed squared error / 2), "calibrated" (Gaussian
    # whose σ is the batch's RMS error, Rybkin et al. 2021), or "auto": bce on grey data, calibrated on colour,
    # decided when training starts and recorded in the run
    reconstruction: str = "auto"
    beta: float = 1.0  # weight of the KL term
    kl_warmup_epochs: int = 0  # ramp beta linearly from 0 over this many epochs (at most MAX_EPOCHS)
    reference_recon_weight: float = 0.3  # the original's weight on mean squared error per image


@dataclass
class TrainConfig:
    epochs: int = 20  # passes over the training set (1..MAX_EPOCHS)
    batch_size: int = 128  # examples per step (1..MAX_BATCH)
    lr: float = 1e-3  # Adam learning rate at epoch 0
    lr_decay: float = 0.95  # multiply the learning rate by this after every epoch
    seed: int = 0  # seeds weights, shuffling, noise and the labelled subset
    precision: str = "bf16"  # "bf16" (autocast where native: CPUs, Ampere+ GPUs; ~1.7x on AVX512-BF16) or "fp32"
    eval_batch_size: int = 2000  # examples per step when evaluating
    select_metric: str = "test_argmax_accuracy"  # metric that picks the best of several seeds
    threads: int = 0  # torch intra-op threads (0 = torch's default)
    device: str = "auto"  # "auto" (CUDA, else Apple MPS, else CPU), "cpu", "cuda", "cuda:N" or "mps"
    tensorboard: bool = False  # also log each epoch to RUN_DIR/tensorboard/ (needs latentcraft[tensorboard])
    # An epoch is at least this many images: a small dataset is passed over epoch_images // N times per epoch,
    # so a budget in epochs (and every schedule counted in epochs) means the same number of steps on 1,500
    # images as on MNIST's 60,000 (one pass). Ignored when data.train_limit shrinks a run on purpose.
    epoch_images: int = 60_000


@dataclass
class TechniqueSettings:
    """A technique's config section: off unless enabled; the technique's class checks the rest."""

    enabled: bool = False  # switch the technique on


class RunSpec(Protocol):
    """What a run config offers the model, data and techniques (config.run_config.Config is one)."""

    name: str
    description: str
    data: DataConfig
    model: ModelConfig
    objective: ObjectiveConfig
    train: TrainConfig

    def section(self, name: str) -> Any:
        """A technique's settings by its registry name (routing, style, prior, ...)."""

    def to_dict(self) -> dict[str, Any]:
        """The whole config as JSON-able tables."""
