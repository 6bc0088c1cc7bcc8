"""Training: the trainer, run folders and checkpoints, folder locks, devices, TensorBoard tracking."""
