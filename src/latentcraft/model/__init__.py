"""The VAE itself: encoder/decoder bodies, the objective, and the model that loops over its techniques."""
