"""The user-defined space example runs through the public API with two strategies."""

from __future__ import annotations

import importlib.util
import json
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


def test_torch_space_example(tmp_path) -> None:
    """The one-shot example: SPOS end to end, an answer under the budget, retrained
    metrics and weights, an export equal to its supernet path, and a resume that
    repeats nothing."""
    import torch

    path = Path(__file__).resolve().parents[1] / "examples" / "torch_space.py"
    spec = importlib.util.spec_from_file_location("torch_space", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        result = module.main(tmp_path)
        log = (tmp_path / "train-log.jsonl").read_text()
        again = module.main(tmp_path)  # resumes the finished run
    finally:
        spaces.unregister("tiny-mlp")
    plugin = module.MLPPlugin()
    genotype = plugin.space.from_dict(result.genotype.to_dict())
    assert plugin.cost(genotype)["macs"] <= module.CONFIG.budgets["macs"]
    assert result.costs == plugin.cost(genotype)
    assert {"val_top1", "test_top1"} <= set(result.metrics)
    assert 0.0 <= result.metrics["test_top1"] <= 1.0
    assert (tmp_path / "architecture.json").exists()
    assert result.stages == ["flat"] and result.retrains == 1

    assert again.genotype == result.genotype and again.metrics == result.metrics
    assert (again.evaluations, again.retrains) == (result.evaluations, result.retrains)
    assert (tmp_path / "train-log.jsonl").read_text() == log  # no training on resume

    model, source = plugin.export_model(genotype, tmp_path, ["flat"])
    assert source.startswith("retrained weights")
    supernet = plugin.supernet()
    supernet.activate(genotype)
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(supernet.export(genotype)(x), supernet(x))
    assert sum(p.numel() for p in model.parameters()) == plugin.cost(genotype)["params"]


def test_custom_searcher_example(tmp_path) -> None:
    """A searcher written in the example, registered, runs through start_run within
    search.max_evaluations and is listed by `archsearch strategies`."""
    from click.testing import CliRunner

    from archspace.synthetic import SyntheticPlugin
    from cli.main import cli
    from strategies.searchers import searchers

    path = Path(__file__).resolve().parents[1] / "examples" / "custom_searcher.py"
    spec = importlib.util.spec_from_file_location("custom_searcher", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        result = module.main(tmp_path)
        listing = json.loads(CliRunner().invoke(cli, ["strategies", "--json"]).output)
    finally:
        searchers.unregister("hill-climb")
    row = next(r for r in listing["searchers"] if r["name"] == "hill-climb")
    assert row["summary"] == module.HillClimber.summary
    assert [o["name"] for o in row["options"]] == ["batch", "patience"]
    plugin = SyntheticPlugin()
    assert plugin.cost(plugin.space.from_dict(result.genotype.to_dict()))["cost"] <= 60
    assert 0 < result.evaluations <= 60  # search.max_evaluations
    assert result.retrains <= 2 and (tmp_path / "architecture.json").exists()
