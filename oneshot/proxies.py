"""Zero-cost proxies: scores of an untrained network from one minibatch (or none).

Each proxy is a function `(model, images, labels) -> float` of a freshly initialised
standalone network, registered by name in `archspace.proxies.proxies` (so a new one is
a function and one line; a third party registers under the `archsearch.proxies` entry
point group). Higher is meant to be better for all of them. After Abdelfattah et al.,
"Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), and Mellor et al., "Neural
Architecture Search without Training" (ICML 2021):

- `grad_norm`: the sum over parameter tensors of the L2 norm of the cross-entropy
  loss's gradient;
- `snip`: the sum of |theta * dL/dtheta| (connection sensitivity);
- `synflow`: the sum of |theta * dR/dtheta| with every weight replaced by its absolute
  value, the input all ones, in float64 and eval mode (no data: R is the sum of the
  output);
- `jacob_cov`: -sum(log(l + k) + 1/(l + k)) over the eigenvalues l of the correlation
  matrix of the input Jacobians of the minibatch's images, k = 1e-5 (-inf when an
  image's Jacobian is constant, e.g. a network whose output ignores its input);
- `nwot` (NASWOT): log|K| with K the Hamming-similarity kernel of the binary codes of
  every ReLU/GELU input (unit active or not) over the minibatch;
- `fisher`: the sum over every ReLU/GELU output a and its channels of 0.5 * the
  batch mean of (sum over positions of a * dL/da)^2 (Turner et al.'s channel saliency;
  the channels of an image feature map are its dim 1, of tokens their last dim).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = (nn.ReLU, nn.GELU)


def _loss_gradients(model: nn.Module, images: Tensor, labels: Tensor) -> list[nn.Parameter]:
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(images), labels).backward()
    return [p for p in model.parameters() if p.grad is not None]


def _saliency(params: list[nn.Parameter]) -> float:
    """The sum of |theta * gradient| over the parameters."""
    with torch.no_grad():
        return float(sum((p * p.grad).abs().sum() for p in params))


def grad_norm(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    return float(sum(p.grad.norm() for p in _loss_gradients(model, images, labels)))


def snip(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    return _saliency(_loss_gradients(model, images, labels))


def synflow(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    ones = torch.ones((1, *images.shape[1:]), dtype=torch.float64, device=images.device)
    model(ones).sum().backward()
    return _saliency([p for p in model.parameters() if p.grad is not None])


def jacob_cov(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    model.train()
    x = images.clone().requires_grad_(True)
    out = model(x)
    out.backward(torch.ones_like(out))
    jacobians = x.grad.reshape(len(x), -1).double().cpu().numpy()
    if not (jacobians.std(axis=1) > 0).all():  # the output ignores an image: no correlation
        return -math.inf
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(jacobians))
    k = 1e-5
    return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def fisher(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    outputs: list[Tensor] = []

    def keep(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        output.retain_grad()
        outputs.append(output)

    hooks = [m.register_forward_hook(keep) for m in _activations(model)]
    try:
        _loss_gradients(model, images, labels)
    finally:
        for hook in hooks:
            hook.remove()
    total = 0.0
    with torch.no_grad():
        for a in outputs:
            if a.grad is None:
                continue
            product = a * a.grad
            if product.dim() == 4:  # (N, C, H, W)
                per_channel = product.sum(dim=(2, 3))
            elif product.dim() == 3:  # (N, tokens, C)
                per_channel = product.sum(dim=1)
            else:
                per_channel = product.reshape(len(product), -1)
            total += float(0.5 * per_channel.pow(2).mean(dim=0).sum())
    return total


def _activations(model: nn.Module) -> list[nn.Module]:
    units = [m for m in model.modules() if isinstance(m, ACTIVATIONS)]
    if not units:
        raise ValueError("this proxy needs ReLU or GELU modules in the network; it has none")
    return units


def nwot(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    n = len(images)
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def record(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        codes = (inputs[0].detach().reshape(n, -1) > 0).double().cpu()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    hooks = [m.register_forward_pre_hook(record) for m in _activations(model)]
    try:
        model.train()
        with torch.no_grad():
            model(images)
    finally:
        for hook in hooks:
            hook.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else -math.inf


__all__ = ["fisher", "grad_norm", "jacob_cov", "nwot", "snip", "synflow"]
