"""Memory planned before training (`oneshot.memory`): the fit from two measured steps,
gradient accumulation that keeps the global batch, and refusals that name the batch
that fits."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.utils.data import TensorDataset

from cli.main import cli
from oneshot.memory import GIB, MemoryBudgetError, plan_memory, step_need
from oneshot.optimisation import warmup_cosine
from oneshot.runtime import select_runtime
from oneshot.training import Loop


def linear_need(fixed: float, per_image: float):
    asked = []

    def need_at(batch: int) -> float:
        asked.append(batch)
        return fixed + per_image * batch

    return need_at, asked


def test_a_batch_that_fits_runs_whole() -> None:
    need_at, asked = linear_need(1000, 10)
    plan = plan_memory("supernet", 64, 1000 + 10 * 64, need_at)
    assert plan.accumulation == 1 and plan.micro_batch == 64
    assert asked == [16, 8]  # two small measured steps, extrapolated
    assert plan.fixed_bytes == pytest.approx(1000) and plan.per_image_bytes == pytest.approx(10)


def test_a_batch_too_large_runs_as_the_fewest_micro_batches_that_fit() -> None:
    need_at, _ = linear_need(1000, 10)
    plan = plan_memory("supernet", 64, 1000 + 10 * 20, need_at)  # 20 images fit
    assert plan.accumulation == 4 and plan.micro_batch == 16  # 64 = 4 x 16, 16 <= 20
    assert "4 micro-batches of 16" in plan.describe()
    odd = plan_memory("retrain", 60, 1000 + 10 * 25, need_at)
    assert odd.accumulation == 3 and odd.micro_batch == 20  # equal micro-batches only


def test_refusals_name_the_batch_that_fits() -> None:
    need_at, _ = linear_need(1000, 10)
    with pytest.raises(MemoryBudgetError, match="the largest that fits is 20"):
        plan_memory("supernet", 64, 1000 + 10 * 20, need_at, accumulation="off")
    with pytest.raises(MemoryBudgetError, match="even one image"):
        plan_memory("supernet", 64, 1005, need_at)
    with pytest.raises(ValueError, match="auto, off"):
        plan_memory("supernet", 64, 1e9, need_at, accumulation="sometimes")


def test_measuring_a_step_leaves_the_model_and_rng_as_they_were() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Linear(32, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    need_at, how = step_need(
        model, (1, 8, 8), 4, torch.device("cpu"), select_runtime("cpu").autocast
    )
    small, large = need_at(2), need_at(8)
    weights = sum(p.numel() * 4 for p in model.parameters())
    assert how == "saved activations"
    assert small >= 4 * weights  # weights, gradients, two optimiser moments
    assert large > small  # activations grow with the batch
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def accumulated_loop(accumulation: int) -> Loop:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.GELU(), nn.Linear(12, 3)).double()
    generator = torch.Generator().manual_seed(1)
    dataset = TensorDataset(
        torch.randn(48, 1, 4, 4, generator=generator, dtype=torch.float64),
        torch.randint(0, 3, (48,), generator=generator),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    return Loop(
        model=model,
        dataset=dataset,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(12, 2)),
        runtime=select_runtime("cpu"),
        epochs=2,
        batch_size=8,
        seed=0,
        criterion=nn.CrossEntropyLoss(label_smoothing=0.1),
        accumulation=accumulation,
    )


def test_gradient_accumulation_trains_as_the_whole_batch_does() -> None:
    """Micro-batches change what BatchNorm sees, nothing else: without BatchNorm the
    weights after accumulated steps equal those of whole-batch steps."""
    whole, accumulated = accumulated_loop(1), accumulated_loop(4)
    a, b = whole.run(), accumulated.run()
    assert a.steps == b.steps == 12
    assert a.loss == pytest.approx(b.loss, rel=1e-9)
    for p, q in zip(whole.model.parameters(), accumulated.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="does not split into 3 equal micro-batches"):
        accumulated_loop(3).run()


def test_retraining_fits_its_batch_by_accumulation_or_refuses(tmp_path) -> None:
    """The workbench measures the network it will train and plans before the first step:
    a budget for 9 of a step's 32 images runs 4 micro-batches of 8 (accumulation on),
    or is refused naming 9 (accumulation off)."""
    from glit_space import GlitPlugin
    from oneshot.workbench import OneShotWorkbench
    from tests.test_oneshot_training import SMALL, tiny_recipe

    plugin, recipe = (
        GlitPlugin(**SMALL),
        tiny_recipe().override(**{"retrain.max_steps_per_epoch": 2}),
    )
    genotype = plugin.space.sample(5)
    need_at, how = step_need(
        plugin.build(genotype, drop_path_rate=recipe.retrain.drop_path),
        (1, 28, 28),
        10,
        torch.device("cpu"),
        select_runtime("cpu").autocast,
    )
    figures = plan_memory("probe", 32, float("inf"), need_at)
    budget = (figures.fixed_bytes + 9.5 * figures.per_image_bytes) / GIB

    def bench(folder: str, accumulation: str) -> OneShotWorkbench:
        return OneShotWorkbench(
            plugin, recipe, tmp_path / folder, runtime=select_runtime("cpu"),
            memory_gib=budget, accumulation=accumulation,
        )  # fmt: skip

    fitted = bench("auto", "auto")
    metrics = fitted.retrain(genotype, "final")
    assert 0.0 <= metrics["test_top1"] <= 1.0
    log = [json.loads(line) for line in (tmp_path / "auto" / "train-log.jsonl").open()]
    (plan,) = [event for event in log if event["event"] == "memory_plan"]
    assert plan["accumulation"] == 4 and plan["batch"] == 32 and plan["measured_by"] == how
    assert "4 micro-batches of 8" in plan["plan"]

    refused = bench("off", "off")
    with pytest.raises(MemoryBudgetError, match="the largest that fits is 9"):
        refused.retrain(genotype, "final")
    assert not (tmp_path / "off" / "retrain").exists()  # nothing trained


def test_a_run_that_cannot_fit_one_image_exits_2_before_training(tmp_path) -> None:
    run = [
        "run", "--space", "glit", "--strategy", "random", "--width", "cpu",
        "--set", "strategy.architectures=1", "--set", "recipe.retrain.epochs=1",
        "--set", "recipe.retrain.batch_size=16", "--set", "recipe.retrain.max_steps_per_epoch=2",
        "--set", "workbench.memory_gib=1e-6", "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, run)
    assert result.exit_code == 2, result.output
    assert "even one image per step does not fit" in result.output
    assert not list((tmp_path / "run").glob("retrain/*.pt"))
    for bad, named in (
        ("memory_gib=-1", "positive number of GiB"),
        ("accumulation=x", "auto, off"),
    ):
        result = CliRunner().invoke(cli, [*run[:-2], "--set", f"workbench.{bad}"])
        assert result.exit_code == 2 and named in result.output, result.output


def test_the_largest_path_is_found_beyond_the_draws() -> None:
    """Coordinate ascent from the best of 2 draws reaches a costliest path (2
    draws reach none of it: it exceeds 200 other draws, and no single change adds MACs)."""
    from glit_space import GlitPlugin
    from oneshot.memory import largest_path

    plugin = GlitPlugin(width="cpu")
    found = largest_path(plugin.space, plugin.cost, samples=2)
    macs = plugin.cost(found)["macs"]
    assert all(plugin.cost(plugin.space.sample(i))["macs"] <= macs for i in range(200))
    for position in plugin.space.free:  # no single change adds MACs
        for index in range(plugin.space.counts[position]):
            row = list(found.indices)
            row[position] = index
            assert plugin.cost(plugin.space.canonical(row))["macs"] <= macs
