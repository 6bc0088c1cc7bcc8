"""Grid keys reach every config section, technique sections included, and the short names stay unambiguous."""

import pytest

from latentcraft.errors import ConfigError
from latentcraft.sweeps.definition import config_fields, resolve_key


@pytest.mark.parametrize("key, path", [
    ("lr", "train.lr"), ("beta", "objective.beta"), ("encoder_hidden", "model.encoder_hidden"),
    ("hidden", "classifier.hidden"), ("label_weight", "routing.label_weight"), ("start_epoch", "style.start_epoch"),
    ("kl_weight", "style.kl_weight"), ("routing.enabled", "routing.enabled"), ("style.dim", "style.dim"),
])
def test_short_and_full_keys_resolve(key, path):
    assert resolve_key(key) == path


def test_every_technique_section_is_addressable_and_the_registry_dict_is_not():
    paths = config_fields()
    assert {"routing.free", "style.adversary", "prior.radius", "anchors.rate", "conditional.enabled"} <= set(paths)
    assert not any(p.startswith("sections") for p in paths)
    with pytest.raises(ConfigError, match="ambiguous"):
        resolve_key("enabled")
