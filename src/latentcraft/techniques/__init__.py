"""Latent-shaping techniques, one module each with its config section, checks, losses and read-outs;
registry.py lists them."""
