"""Image data: formats on disk, datasets, in-memory batches and transforms.

`load_split` and `ImageSet` are re-exported here, the names notebooks use
(`from latentcraft.data import load_split`).
"""

from latentcraft.data.images import ImageSet
from latentcraft.data.mnist import load_split

__all__ = ["ImageSet", "load_split"]
