"""Run configuration: the core sections, strict loading, presets (presets/*.toml), and the full Config
assembled from the technique registry."""
