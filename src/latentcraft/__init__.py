"""latentcraft: VAEs whose latent space means what you chose."""

__version__ = "0.1.0"
