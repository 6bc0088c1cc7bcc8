"""Image data: formats on disk, datasets, in-memory batches and transforms."""
