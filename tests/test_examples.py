"""The user-defined space example runs through the public API with two strategies."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from archspace import spaces


def test_custom_space_example(tmp_path) -> None:
    path = Path(__file__).resolve().parents[1] / "examples" / "custom_space.py"
    spec = importlib.util.spec_from_file_location("custom_space", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        results = module.main(tmp_path)
    finally:
        spaces.unregister("toy")
    plugin = module.ToyPlugin()
    assert set(results) == {"hierarchical-ea", "random"}
    for genotype in results.values():
        assert plugin.cost(genotype)["macs"] <= 6000
    assert (tmp_path / "random" / "architecture.json").exists()
