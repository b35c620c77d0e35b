"""GPU-path logic checked on the CPU (issue 24): one GPU per torchrun process, the run's
own device's RNG state and precision, and leaving the process group at exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from click.testing import CliRunner

from archspace import load_space
from archspace.parallel import leave_process_group
from cli.main import cli
from oneshot.checkpoint import rng_state, set_rng_state
from oneshot.distributed import local_device
from oneshot.runtime import Runtime


@pytest.fixture
def launched_world(monkeypatch):
    """The environment torchrun gives the second of two processes."""
    for key, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)


def test_one_named_gpu_for_every_process_of_a_torchrun_job_is_refused(launched_world):
    message = "names one GPU for all 2 processes"
    with pytest.raises(ValueError, match=message):
        local_device("cuda:1")
    with pytest.raises(ValueError, match=message):
        load_space("glit", width="cpu").check_run_settings({"device": "cuda:0"})
    result = CliRunner().invoke(cli, ["run", "--space", "glit", "--device", "cuda:1"])
    assert result.exit_code == 2 and message in result.output
    assert local_device("cpu") == "cpu"  # the CPU needs no GPU per process


@pytest.mark.parametrize(("capability", "dtype", "scaled"),
                         [((7, 0), torch.float16, True), ((8, 0), torch.bfloat16, False),
                          ((9, 0), torch.bfloat16, False)])  # fmt: skip
def test_amp_precision_follows_the_runs_own_gpu(monkeypatch, capability, dtype, scaled):
    asked = []

    def get_device_capability(device=None):
        asked.append(device)
        return capability

    monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
    runtime = Runtime(torch.device("cuda", 1), amp=True)
    assert runtime.amp_dtype == dtype
    assert asked[-1] == torch.device("cuda", 1)  # not the current device
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device, enabled: enabled)
    assert runtime.grad_scaler() is scaled


def test_checkpoints_keep_the_rng_state_of_the_runs_own_device_only(monkeypatch):
    assert "cuda" not in rng_state(torch.device("cpu"))
    calls = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: f"state of {device}")
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda state, device: calls.append((state, device)))  # fmt: skip
    gpu = torch.device("cuda", 1)
    state = rng_state(gpu)
    assert state["cuda"] == "state of cuda:1"
    set_rng_state(state, gpu)
    assert calls == [("state of cuda:1", gpu)]
    # a checkpoint of the former format (every visible GPU's state) resumes on fewer GPUs
    calls.clear()
    set_rng_state({**state, "cuda": ["gpu0", "gpu1"]}, gpu)
    set_rng_state({**state, "cuda": ["gpu0"]}, gpu)  # cuda:1 has no entry: left as seeded
    set_rng_state({**state, "cuda": ["gpu0"]}, torch.device("cpu"))
    assert calls == [("gpu1", gpu)]


def test_a_command_leaves_the_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)  # fmt: skip
    assert dist.is_initialized()
    leave_process_group()
    assert not dist.is_initialized()
    leave_process_group()  # without a group: nothing to do


@pytest.mark.slow
def test_a_failure_on_one_of_two_ranks_is_recorded_alike_on_both_without_a_hang(tmp_path):
    """A candidate failing on one rank is a failed candidate on both (the ranks stay in
    step); an out-of-memory on one rank stops both with EvaluatorError, and is not
    recorded as a failed candidate."""
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    worker = Path(__file__).with_name("failing_rank_worker.py")
    done = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", str(worker),
                           str(tmp_path)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert first == second
    assert list(first["errors"]) == [first["culprit"]]
    assert "ValueError: this architecture cannot be built" in first["errors"][first["culprit"]]
    assert first["results"][first["culprit"]] is None and len(first["results"]) == 6
    assert "out of memory" in first["stopped"] and "rank 0" in first["stopped"]


def test_batchnorm_recalibration_runs_under_the_evaluations_autocast(monkeypatch):
    """The path's statistics are re-estimated on the activations the evaluation sees:
    both under the runtime's autocast (on CUDA, bf16 or fp16)."""
    from oneshot.evaluation import supernet_top1

    entered = []

    class Runtime_:
        device = torch.device("cpu")

        def autocast(self):
            import contextlib

            @contextlib.contextmanager
            def recorded():
                entered.append(model.bn.training)  # BatchNorm in train mode: recalibrating
                yield

            return recorded()

    class Path(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(4)

        def activate(self, genotype) -> None:
            pass

        def forward(self, x):
            return self.bn(x)

    model = Path()
    images = torch.randn(8, 4)
    supernet_top1(model, None, [(images, torch.zeros(8, dtype=torch.long))], [images],
                  Runtime_())  # fmt: skip
    assert entered == [True, False]  # recalibration, then the evaluation


def test_loaders_pin_memory_and_take_workers_by_default_on_cuda_only(monkeypatch, tmp_path):
    from oneshot.runtime import default_workers
    from oneshot.workbench import OneShotWorkbench

    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr("oneshot.runtime._usable_cores", lambda: 16)
    assert default_workers(torch.device("cpu")) == 0
    assert default_workers(torch.device("cuda", 0)) == 8  # 16 cores / 2 processes, at most 8
    monkeypatch.setattr("oneshot.runtime._usable_cores", lambda: 4)
    assert default_workers(torch.device("cuda", 0)) == 2
    plugin = load_space("glit", width="cpu")
    data = torch.utils.data.TensorDataset(torch.zeros(4, 1))
    for device, pinned in (("cpu", False), ("cuda", True)):
        bench = OneShotWorkbench(plugin, None, tmp_path, runtime=Runtime(torch.device(device)))
        assert bench._loader(data, 2).pin_memory is pinned
