"""Two CPU processes with gloo (torchrun) against one process on the combined batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cli.main import cli

WORKER = Path(__file__).with_name("distributed_worker.py")


def start(out: Path, *launcher: str) -> subprocess.Popen:
    out.mkdir()
    return subprocess.Popen(
        [*launcher, str(WORKER), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(job: subprocess.Popen) -> None:
    _, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr[-3000:]


def test_two_ranks_equal_one_process_on_the_combined_batch(tmp_path) -> None:
    """Paths with local heads (synchronised BatchNorm) and random augmentation (drawn per
    sample): 2 processes train and evaluate like one on the combined batch."""
    torchrun = Path(sys.executable).with_name("torchrun")
    jobs = [  # side by side: each waits on its imports and process group more than on work
        start(tmp_path / "ddp", str(torchrun), "--standalone", "--nproc-per-node", "2"),
        start(tmp_path / "one", sys.executable),
    ]
    for job in jobs:
        finish(job)
    ranks = [json.loads((tmp_path / "ddp" / f"result-{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((tmp_path / "one" / "result-0.json").read_text())
    assert ranks[0]["world"] == 2 and single["world"] == 1
    assert ranks[0]["paths"] == ranks[1]["paths"] == single["paths"]  # same SPOS paths
    assert len(single["paths"]) == 8 and len(set(single["paths"])) > 1
    assert ranks[0]["scores"] == ranks[1]["scores"] == single["scores"]  # gathered evaluations
    reference = torch.load(tmp_path / "one" / "weights-0.pt", weights_only=True)
    for rank in (0, 1):
        weights = torch.load(tmp_path / "ddp" / f"weights-{rank}.pt", weights_only=True)
        for name, value in reference.items():
            assert torch.allclose(weights[name], value, atol=1e-5), (rank, name)


@pytest.mark.slow
def test_a_whole_run_under_torchrun_writes_once_and_resumes(tmp_path, tiny_glit) -> None:
    """`archsearch run` as 2 gloo processes: one answer, one log, and a folder that one
    process resumes (ranks resuming in step are checked in test_parallel_runs)."""
    out = tmp_path / "run"
    arguments = ["run", "--space", "glit", "--strategy", "spos", *tiny_glit, "--out", str(out),
                 "--json"]  # fmt: skip
    launcher = [str(Path(sys.executable).with_name(name)) for name in ("torchrun", "archsearch")]
    command = [launcher[0], "--standalone", "--nproc-per-node", "2", "--no-python", launcher[1]]
    first = subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout)  # only rank 0 printed
    events = [json.loads(line)["event"] for line in (out / "train-log.jsonl").open()]
    assert events.count("supernet_trained") == 1 and events.count("retrained") == 1
    again = CliRunner().invoke(cli, arguments, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["key"] == summary["key"]
    assert "already finished" in again.stderr
    events_after = [json.loads(line)["event"] for line in (out / "train-log.jsonl").open()]
    assert events_after.count("supernet_trained") == 1  # nothing trained again
