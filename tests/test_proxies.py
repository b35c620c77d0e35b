"""Zero-cost proxies: each one's definition on small networks, and `archsearch proxies`
on a ground-truth study."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from archspace.proxies import check_proxies, proxies
from cli.main import cli
from oneshot.proxies import fisher, jacob_cov, nwot, synflow

NAMES = ["grad_norm", "snip", "synflow", "jacob_cov", "nwot", "fisher"]


def mlp(seed: int = 0, hidden: int = 16) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def batch(seed: int = 0, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 2, 2, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_every_proxy_is_registered_finite_and_deterministic() -> None:
    assert set(NAMES) <= set(proxies.names())
    images, labels = batch()
    for name in NAMES:
        first = proxies.get(name)(mlp(), images, labels)
        assert torch.isfinite(torch.tensor(first)), name
        assert proxies.get(name)(mlp(), images, labels) == first, name  # same weights, same score
    assert check_proxies("synflow, nwot") == ["synflow", "nwot"]
    with pytest.raises(Exception, match="Did you mean 'synflow'"):
        check_proxies("synflw")


def test_synflow_is_the_sum_of_absolute_weights_of_a_linear_layer() -> None:
    """R = sum(|W| 1) for all-ones input, so dR/dW = 1 and the score is sum |W|."""
    torch.manual_seed(0)
    layer = nn.Linear(5, 3, bias=False)
    expected = float(layer.weight.detach().abs().sum())
    images, labels = torch.randn(4, 5), torch.zeros(4, dtype=torch.long)
    assert synflow(layer, images, labels) == pytest.approx(expected)
    assert synflow(nn.Linear(5, 3, bias=False), images * 7, labels) != pytest.approx(expected)
    torch.manual_seed(0)  # no data: the images do not matter, only their shape
    assert synflow(nn.Linear(5, 3, bias=False), images * 7, labels) == pytest.approx(expected)


def test_nwot_and_jacob_cov_follow_their_definitions() -> None:
    images, labels = batch(n=6)
    # one ReLU layer: K[i, j] counts units where images i and j agree on being active
    model = mlp()
    codes = (model[1](model[0](images)) > 0).double()
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    assert nwot(model, images, labels) == pytest.approx(float(torch.linalg.slogdet(kernel)[1]))
    with pytest.raises(ValueError, match="ReLU or GELU"):
        nwot(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), images, labels)


def test_fisher_is_the_channel_saliency_of_the_activations() -> None:
    images, labels = batch(n=6)
    model = mlp()
    hidden = model[2](model[1](model[0](images)))  # the ReLU's output, kept for its gradient
    hidden.retain_grad()
    torch.nn.functional.cross_entropy(model[3](hidden), labels).backward()
    expected = float(0.5 * (hidden * hidden.grad).detach().pow(2).mean(dim=0).sum())
    assert fisher(mlp(), images, labels) == pytest.approx(expected, rel=1e-5)
    # a linear network's input Jacobians (summed over outputs) are the same for every
    # image: perfectly correlated rows, the lowest possible score
    linear = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    assert jacob_cov(linear, images, labels) < jacob_cov(mlp(hidden=64), images, labels)


@pytest.mark.slow
def test_proxies_of_a_ground_truth_study(tmp_path, tiny_glit) -> None:
    run = tmp_path / "run"
    assert (
        CliRunner().invoke(cli, ["run", "--strategy=spos", *tiny_glit, f"--out={run}"]).exit_code
        == 0
    )
    study = tmp_path / "study"
    ranked = CliRunner().invoke(cli, ["rank", str(run), "--archs=3", "--seeds=1", f"--out={study}"])
    assert ranked.exit_code == 0, ranked.output
    args = ["proxies", str(study), "--proxies=synflow,nwot", "--batch=8", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    predictors = json.loads(result.stdout)["summary"]["samples"]["flat"]["predictors"]
    assert predictors["proxy:synflow"]["kind"] == "proxy" and predictors["proxy:nwot"]["n"] == 3
    assert set(predictors["proxy:synflow"]["test_top1"]) == {
        "kendall",
        "spearman",
        "top5",
        "top10pct",
    }
    assert "proxy:nwot" in (study / "ground-truth.md").read_text()
    assert (study / "scatter-proxy-synflow.png").stat().st_size > 0
    scores = json.loads((study / "proxies" / "synflow.json").read_text())
    assert len(scores) == 3
    stamp = (study / "proxies" / "synflow.json").stat().st_mtime_ns
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "0 of 3 to score" in again.output
    assert (study / "proxies" / "synflow.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--proxies=synflw"], "Did you mean 'synflow'"),
        (["--batch=1"], "at least 2"),
    ],
)
def test_bad_requests_are_refused(tmp_path, args, message) -> None:
    result = CliRunner().invoke(cli, ["proxies", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_folder_without_a_study_is_refused(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["proxies", str(tmp_path)])
    assert result.exit_code == 2 and "not a ground-truth study folder" in result.output
