"""`oneshot`'s supernet training, evaluation, retraining and crash-safe resumable
checkpoints (on a GLiT supernet)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from glit_space import GlitPlugin
from oneshot.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from oneshot.optimisation import warmup_cosine
from oneshot.recipes import get_recipe
from oneshot.runtime import select_runtime
from oneshot.training import Loop, stochastic_seed
from oneshot.workbench import OneShotWorkbench

SMALL = {"width": "cpu", "embed_dim": 24, "depth": 2, "patch_size": 7}


def tiny_recipe():
    return get_recipe("quick").override(
        **{
            "supernet.epochs": 3,
            "supernet.batch_size": 32,
            "supernet.max_steps_per_epoch": 12,
            "retrain.epochs": 1,
            "retrain.batch_size": 32,
            "retrain.max_steps_per_epoch": 25,
            "retrain.lr": 2e-3,
            "retrain.lr_reference_batch": 32,
            "retrain.warmup_epochs": 0.0,
            "eval.max_images": 160,
            "eval.batch_size": 80,
            "eval.bn_batches": 2,
            "eval.bn_batch_size": 32,
            "val_size": 400,
        }
    )


@contextlib.contextmanager
def recording_paths(plugin, sampled: list):
    """Record every genotype the plugin's supernets are asked to activate."""
    build = plugin.supernet

    def recording_supernet(*args, **kwargs):
        supernet = build(*args, **kwargs)
        activate = supernet.activate
        supernet.activate = lambda genotype: sampled.append(genotype) or activate(genotype)
        return supernet

    plugin.supernet = recording_supernet
    try:
        yield
    finally:
        plugin.supernet = build


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    plugin = GlitPlugin(**SMALL)
    bench = OneShotWorkbench(
        plugin, tiny_recipe(), tmp_path_factory.mktemp("run"), runtime=select_runtime("cpu")
    )
    sampled = []
    with recording_paths(plugin, sampled):
        result = bench.train_supernet(plugin.space, "flat")
    return plugin, bench, result, sampled


def test_supernet_trains_and_its_loss_falls(trained) -> None:
    plugin, bench, result, sampled = trained
    assert result.steps == 36 and result.epochs == 3
    lines = (bench.run_dir / "train-log.jsonl").read_text().splitlines()
    losses = [json.loads(x)["loss"] for x in lines if json.loads(x)["event"] == "epoch"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert len(sampled) == 36 and len({g.key for g in sampled}) > 30  # one fresh path per step
    for genotype in sampled:
        assert plugin.space.validate(genotype) == genotype


def test_paths_follow_the_sub_space(tmp_path) -> None:
    plugin = GlitPlugin(**SMALL)
    stage = plugin.space.restrict("distribution")
    recipe = tiny_recipe().override(**{"supernet.epochs": 1, "supernet.max_steps_per_epoch": 4})
    bench = OneShotWorkbench(plugin, recipe, tmp_path, runtime=select_runtime("cpu"))
    seen = []
    with recording_paths(plugin, seen):
        bench.train_supernet(stage, "distribution")
    assert len(seen) == 4
    assert all(g["blocks.0.ffn"] == 4 and g["blocks.1.qkv"] == 1.0 for g in seen)


def test_supernet_training_is_deterministic_for_a_seed(trained, tmp_path) -> None:
    plugin, bench, _, _ = trained
    again = OneShotWorkbench(plugin, bench.recipe, tmp_path, runtime=bench.runtime)
    again.train_supernet(plugin.space, "flat")
    for (name, a), b in zip(
        bench.supernet("flat").state_dict().items(), again.supernet("flat").state_dict().values()
    ):
        assert torch.equal(a, b), name


def test_evaluation_is_a_deterministic_accuracy(trained) -> None:
    plugin, bench, _, _ = trained
    genotypes = [plugin.space.sample(i) for i in range(3)]
    first = bench.evaluate(genotypes, "flat")
    assert all(0.0 <= a <= 1.0 for a in first)
    assert bench.evaluate(genotypes, "flat") == first
    fresh = OneShotWorkbench(plugin, bench.recipe, bench.run_dir, runtime=bench.runtime)
    assert fresh.evaluate(genotypes, "flat") == first  # reloaded from the checkpoint


def test_search_val_and_calibration_images_are_made_once_per_run(trained, monkeypatch) -> None:
    """A search evaluates hundreds of candidates on the same images: the loaders are
    built and decoded for the first evaluation only (the images then stay on the
    device as uint8, normalised there to the very values of the float pipeline), with
    the same accuracies as streaming them; a larger split stays in host memory, and
    one larger still streams."""
    import oneshot.workbench

    plugin, bench, _, _ = trained
    genotypes = [plugin.space.sample(i) for i in range(3)]
    fresh = OneShotWorkbench(plugin, bench.recipe, bench.run_dir, runtime=bench.runtime)
    built = []
    loader = fresh._loader
    monkeypatch.setattr(fresh, "_loader", lambda *args: built.append(1) or loader(*args))
    first = fresh.evaluate(genotypes, "flat")
    assert len(built) == 2  # search-val and calibration
    assert fresh.evaluate(genotypes, "flat") == first and len(built) == 2
    cached = fresh._search_val()
    assert all(x.dtype == torch.uint8 for x, _ in cached.batches)  # a quarter of floats
    streamed = list(fresh._val_loader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(cached, streamed))  # same values
    monkeypatch.setattr(oneshot.workbench, "EVAL_CACHE_BYTES", 1)  # in host memory
    host = OneShotWorkbench(plugin, bench.recipe, bench.run_dir, runtime=bench.runtime)
    assert host.evaluate(genotypes, "flat") == first and host._eval_batches
    monkeypatch.setattr(oneshot.workbench, "HOST_CACHE_BYTES", 1)  # streamed
    streaming = OneShotWorkbench(plugin, bench.recipe, bench.run_dir, runtime=bench.runtime)
    assert streaming.evaluate(genotypes, "flat") == first and streaming._eval_batches == []


def test_retraining_reports_test_top1(trained) -> None:
    plugin, bench, _, _ = trained
    metrics = bench.retrain(plugin.space.sample(5), "final")
    assert 0.0 <= metrics["test_top1"] <= 1.0
    assert metrics["test_top1"] > 0.2  # ten classes: clearly above chance after 25 steps
    assert (bench.run_dir / "retrain").is_dir()


def make_loop(tmp_path, seed: int = 0, fail_at: int | None = None, drop_path: float = 0.0) -> Loop:
    torch.manual_seed(seed)
    plugin = GlitPlugin(**SMALL)
    model = plugin.supernet(drop_path_rate=drop_path)
    generator = torch.Generator().manual_seed(1)
    dataset = TensorDataset(
        torch.randn(80, 1, 28, 28, generator=generator),
        torch.randint(0, 10, (80,), generator=generator),
    )
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(20, 2))

    def step_hook(step: int) -> None:
        if step == fail_at:
            raise KeyboardInterrupt("killed")
        genotype = plugin.space.sample(np.random.default_rng([seed, step]))
        model.set_active(plugin.blocks(genotype))

    return Loop(
        model=model,
        dataset=dataset,
        optimizer=optimizer,
        scheduler=scheduler,
        runtime=select_runtime("cpu"),
        epochs=2,
        batch_size=8,
        seed=seed,
        criterion=nn.CrossEntropyLoss(label_smoothing=0.1),
        checkpoint=tmp_path / "ck.pt",
        before_step=step_hook,
        checkpoint_every_steps=3,
    )


def test_resume_after_a_kill_reaches_the_same_weights(tmp_path) -> None:
    straight = make_loop(tmp_path / "a")
    straight.run()
    killed = make_loop(tmp_path / "b", fail_at=14)  # mid-epoch 2 (10 steps per epoch)
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    assert load_checkpoint(tmp_path / "b" / "ck.pt")["global_step"] == 12
    resumed = make_loop(tmp_path / "b")
    result = resumed.run()
    assert result.resumed_from_step == 12 and result.steps == 20
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values()
    ):
        assert torch.equal(a, b), name
    again = make_loop(tmp_path / "b").run()  # finished: nothing more to train
    assert again.steps == 20 and again.resumed_from_step == 20


def test_drop_path_masks_are_drawn_per_step_and_rank(tmp_path) -> None:
    """Drop path draws from (seed, step, rank): a run killed and resumed reaches the same
    weights whatever the global generator holds at the restart, and each process of a
    job has its own stream (one seed for all would repeat the masks across shares)."""

    def weights(loop: Loop) -> list[torch.Tensor]:
        return [p.detach().clone() for p in loop.model.parameters()]

    straight = make_loop(tmp_path / "a", drop_path=0.5)
    straight.run()
    killed = make_loop(tmp_path / "b", fail_at=14, drop_path=0.5)
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    torch.manual_seed(12345)  # whatever the global generator holds at the restart
    resumed = make_loop(tmp_path / "b", drop_path=0.5)
    resumed.run()
    assert all(torch.equal(a, b) for a, b in zip(weights(straight), weights(resumed)))
    seeds = {stochastic_seed(0, step, rank) for step in range(20) for rank in range(4)}
    assert len(seeds) == 80  # a stream per process and step


def test_the_loop_seeds_its_stochastic_layers_at_every_step(tmp_path, monkeypatch) -> None:
    import oneshot.training

    asked = []

    def recorded(seed: int, step: int, rank: int) -> int:
        asked.append((seed, step, rank))
        return step

    monkeypatch.setattr(oneshot.training, "stochastic_seed", recorded)
    make_loop(tmp_path, seed=3, drop_path=0.5).run()
    assert asked == [(3, step, 0) for step in range(20)]


def test_a_training_step_reads_nothing_back_to_the_host(tmp_path, monkeypatch) -> None:
    """No host sync inside a step (on CUDA each one stalls the GPU): the loss and
    accuracy sums are read every SYNC_EVERY steps and at epoch ends only."""
    import oneshot.training

    loop = make_loop(tmp_path)
    loop.checkpoint_every_steps, loop.checkpoint_every_s = None, 1e9
    step, reads = loop._train_step, []

    def forbidden(*args, **kwargs):
        raise AssertionError("a host sync inside a training step")

    def checked_step(*args):
        with monkeypatch.context() as inside:
            for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
                inside.setattr(torch.Tensor, name, forbidden)
            return step(*args)

    loop._train_step = checked_step
    read = oneshot.training._PendingSums.read
    monkeypatch.setattr(oneshot.training._PendingSums, "read",
                        lambda self, at: reads.append(at) or read(self, at))  # fmt: skip
    result = loop.run()
    assert result.steps == 20 and reads == [10, 16, 20]  # epoch 1's end, step 16, the end


def test_a_diverging_loss_stops_training_before_a_checkpoint_keeps_it(tmp_path) -> None:
    """A non-finite loss is caught at the next read, which comes before any checkpoint
    (every 3 steps here): no checkpoint holds the diverged weights."""
    loop = make_loop(tmp_path)
    criterion, loop_step, nan = loop.criterion, [0], float("nan")
    loop.criterion = lambda logits, y: criterion(logits, y) * (2.0 if loop_step[0] < 4 else nan)
    step = loop._train_step

    def counted(*args):
        loop_step[0] += 1
        return step(*args)

    loop._train_step = counted
    with pytest.raises(FloatingPointError, match=r"the loss became nan between steps 3 and 6"):
        loop.run()
    state = load_checkpoint(tmp_path / "ck.pt")
    assert state["global_step"] == 3  # the last one, from before the loss diverged
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_a_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    assert load_checkpoint(path)["step"] == 2
    path.write_bytes(path.read_bytes()[:40])  # truncated, as by a crash of the disk
    assert load_checkpoint(path)["step"] == 1
    (tmp_path / "ck.pt.prev").write_bytes(b"garbage")
    with pytest.raises(
        CheckpointError, match=r"no readable checkpoint; tried:\n.*ck.pt:.*\n.*ck.pt.prev"
    ):
        load_checkpoint(path)
    assert load_checkpoint(tmp_path / "missing.pt") is None


def test_checkpoints_refuse_arbitrary_objects(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"obj": nn.Linear(2, 2)}, path)  # a pickled module, not plain data
    with pytest.raises(CheckpointError, match=r"evil\.pt"):
        load_checkpoint(path)


def test_bad_runtime_requests_are_named() -> None:
    with pytest.raises(ValueError, match="unknown device 'gpu'; allowed: auto, cpu, cuda"):
        select_runtime("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available here"):
            select_runtime("cuda")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OMP_NUM_THREADS": "1"}, 1),  # the user's or torchrun's choice is kept
        ({"LOCAL_WORLD_SIZE": "2"}, None),  # a share of the cores per process
        ({}, None),
    ],
)
def test_cpu_threads_follow_the_launcher(monkeypatch, env, expected) -> None:
    from oneshot.runtime import configure_threads

    for name in ("OMP_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cores = len(os.sched_getaffinity(0))
    if expected is None:
        expected = max(1, cores // int(env.get("LOCAL_WORLD_SIZE", 1)))
    before = torch.get_num_threads()
    try:
        assert configure_threads() == expected
        assert configure_threads(3) == 3  # an explicit number wins
    finally:
        torch.set_num_threads(before)


def test_unknown_workbench_settings_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"workbench setting\(s\) thread; allowed: .*threads"):
        GlitPlugin(**SMALL).workbench({"run_dir": tmp_path, "thread": 1})


def test_ranks_share_out_exactly_the_single_process_batches() -> None:
    """DistributedSampler's shares: step k of every rank together is global batch k of
    one process, also when resuming mid-epoch (start) and under an epoch cap (stop)."""
    from oneshot.distributed import Ranks
    from oneshot.sampling import epoch_indices

    size, batch, start, stop = 103, 8, 2, 9
    single = epoch_indices(size, 5, 3, Ranks(), batch, start, stop)
    shares = [epoch_indices(size, 5, 3, Ranks(r, 2), batch // 2, start, stop) for r in (0, 1)]
    assert len(single) == (stop - start) * batch
    for step in range(stop - start):
        together = [i for share in shares for i in share[step * 4 : (step + 1) * 4]]
        assert sorted(together) == sorted(single[step * batch : (step + 1) * batch])
    assert single != epoch_indices(size, 5, 4, Ranks(), batch, start, stop)  # new epoch, new order


def test_one_loader_serves_every_epoch_and_its_throughput_is_logged(tmp_path, monkeypatch) -> None:
    """The training loader is built once (its worker processes persist across epochs),
    loads exactly what in-process loading does, and its images/s alone are measured
    before training and logged beside the epochs' loader waits."""
    import oneshot.training
    from oneshot.progress import EventLog

    built = []
    make = oneshot.training.make_loader
    monkeypatch.setattr(
        oneshot.training, "make_loader", lambda *a, **k: built.append(k) or make(*a, **k)
    )
    in_process = make_loop(tmp_path / "a")
    in_process.max_steps_per_epoch = 6  # 2 epochs of 6 steps: the probe times 4 beyond 1
    in_process.log = EventLog(tmp_path / "a" / "log.jsonl")
    result = in_process.run()
    assert len(built) == 1 and result.epochs == 2  # one loader for both epochs
    events = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").open()]
    (probe,) = [e for e in events if e["event"] == "loader"]
    assert probe["images_per_s"] == result.loader_images_per_s > 0 and probe["workers"] == 0
    assert all(e["loader_wait_s"] >= 0 for e in events if e["event"] == "epoch")
    assert "the loader alone" in result.summary()
    slow = dataclasses.replace(result, images_per_s=100.0, loader_images_per_s=150.0)
    assert "it limits training, raise workbench.num_workers" in slow.summary()
    assert "limits" not in dataclasses.replace(slow, loader_images_per_s=250.0).summary()

    workers = make_loop(tmp_path / "b")
    workers.num_workers, workers.max_steps_per_epoch = 1, 6
    workers.run()
    assert built[-1]["num_workers"] == 1 and len(built) == 2
    for a, b in zip(in_process.model.parameters(), workers.model.parameters()):
        assert torch.equal(a, b)
