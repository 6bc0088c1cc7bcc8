"""Measuring a trained model: metrics and their registry, probes, DCI, the judge, robustness, the evaluate command."""
