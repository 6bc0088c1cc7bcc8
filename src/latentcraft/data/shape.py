"""The image shape and class names a run works with, read from its config.

A run records them from its data when it starts training (`data.image_shape` as
[height, width, channels] and `data.class_names`); a config that records none is
an MNIST-format run (28 × 28 grey, the dataset's own ten class names), which is
what every run folder written before custom data existed holds.

Images travel through the models flattened channel-first: a (B, C·H·W) float
tensor in [0, 1], so a grey 28 × 28 image is the familiar (B, 784).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from latentcraft.data.constants import CLASS_NAMES, IMAGE_SIDE, NUM_CLASSES

if TYPE_CHECKING:
    from latentcraft.config.sections import RunSpec


@dataclass(frozen=True)
class ImageShape:
    height: int
    width: int
    channels: int  # 1 (grey) or 3 (RGB)
    class_names: tuple[str, ...]

    @property
    def features(self) -> int:
        """Values per flattened image, C·H·W."""
        return self.channels * self.height * self.width

    @property
    def classes(self) -> int:
        return len(self.class_names)

    @property
    def grey(self) -> bool:
        return self.channels == 1

    @property
    def chw(self) -> tuple[int, int, int]:
        return self.channels, self.height, self.width

    def images(self, flat: Any) -> Any:  # torch or numpy, whichever comes in
        """Flattened (N, C·H·W) values as displayable images: (N, H, W) grey or (N, H, W, 3) colour."""
        if self.grey:
            return flat.reshape(-1, self.height, self.width)
        grid = flat.reshape(-1, self.channels, self.height, self.width)
        return grid.permute(0, 2, 3, 1) if hasattr(grid, "permute") else grid.transpose(0, 2, 3, 1)

    def describe(self) -> str:
        colour = "grey" if self.grey else "RGB"
        return f"{self.width}×{self.height} {colour}, {self.classes} classes"


def default_class_names(dataset: str) -> tuple[str, ...]:
    """The class names of a built-in dataset (digits for MNIST-format data)."""
    from latentcraft.data.procedural import PROCEDURAL

    if dataset in PROCEDURAL:
        return PROCEDURAL[dataset].class_names
    return tuple(CLASS_NAMES.get(dataset, [str(k) for k in range(NUM_CLASSES)]))


def image_shape(config: RunSpec) -> ImageShape:
    """The shape and classes `config` records; a config that records none is the built-in dataset's."""
    d = config.data
    names = tuple(d.class_names) or default_class_names(d.dataset)
    if d.image_shape:
        height, width, channels = d.image_shape
        return ImageShape(height, width, channels, names)
    from latentcraft.data.procedural import PROCEDURAL

    if d.dataset in PROCEDURAL and not d.path:
        spec = PROCEDURAL[d.dataset]
        return ImageShape(spec.side, spec.side, spec.channels, names)
    return ImageShape(IMAGE_SIDE, IMAGE_SIDE, 1, names)


def classes_known(config: RunSpec) -> bool:
    """Whether `config` knows its class count yet: your own data's is known once a run has read it (recorded)."""
    return bool(config.data.class_names) or not config.data.path


MNIST_SHAPE = ImageShape(IMAGE_SIDE, IMAGE_SIDE, 1, tuple(str(k) for k in range(NUM_CLASSES)))
