"""The published searched networks AutoFormer-T, -S and -B, each at its supernet width.

Source: the official configs `AutoFormer/experiments/subnet/AutoFormer-{T,S,B}.yaml` of
microsoft/Cream (the RETRAIN section: EMBED_DIM, DEPTH and per-block MLP_RATIO and
NUM_HEADS), read from verbatim copies in ZeyuZhao-git/Autoformer_based_code
(experiments/subnet/*.yaml, commit 01a2f13) and 5663015/ViT_NAS
(AutoFormer/experiments/subnet/AutoFormer-{S,B}.yaml, commit 4c5cf8a), which agree.
Their SEARCH_SPACE sections and experiments/supernet/supernet-T.yaml give the ranges:

- Tiny: the supernet-T.yaml searches MLP ratios 3.5 and 4.0 only, yet the released
  AutoFormer-T uses 3.0 in blocks 2, 4 and 5 (from 0). Our "tiny" width searches 3.0, 3.5, 4.0
  (as Small and Base do) so that the published network is a member of its space.
- Base: the configs search 8, 9 or 10 heads (q/k/v 512-640, paper Table 1), not 9-10.

Published figures (ImageNet, 224 px, patch 16): T 5.7M params, 1.3G FLOPs (MACs);
S 22.9M, 5.1G; B 54M, 11G. Our networks (exact, `autoformer_space.cost`):

- T: 5,768,104 params (+1.2%), 1,283,236,352 MACs (-1.3%);
- S: 22,791,592 params (-0.5%), 4,773,931,776 MACs (-6.4%);
- B: 53,584,168 params (-0.8%), 11,045,397,248 MACs (+0.4%).

Why they differ: the official models add 2-D relative position encodings (rpe) to q.k
and to the attention output (`--relative_position`, max distance 14): two (30, 64)
tables for keys and two for values per block, 7,680 params per block (T +99,840,
S +99,840, B +107,520), and two extra T x T x q products per block (T +199M MACs,
S +387M, B +646M). We leave rpe out. With it, S would be 22.89M / 5.16G (+1.2%),
but T 1.48G (+14%) and B 11.69G (+6.3%): no single way of counting reproduces all three
published FLOPs, and S's 5.1G is 6.8% above what its released architecture computes
without rpe (the official `get_complexity` gives ~4.89G). S's MACs are thus the one
figure outside 3%; params agree within 1.2% for all three (within 3% with rpe too).
"""

from __future__ import annotations

from archspace.registry import lookup
from autoformer_space.config import Arch, BlockArch


def _arch(embed_dim: int, mlp_ratios: list[float], heads: list[int]) -> Arch:
    return Arch(embed_dim, tuple(BlockArch(r, h) for r, h in zip(mlp_ratios, heads, strict=True)))


#: preset name -> (the width it was published at, the network)
PRESETS: dict[str, tuple[str, Arch]] = {
    "autoformer-t": (
        "tiny",
        _arch(
            192,
            [3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5],
            [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3],
        ),
    ),
    "autoformer-s": (
        "small",
        _arch(
            384,
            [3.0, 3.5, 3.0, 3.5, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.5, 4.0],
            [6, 6, 5, 7, 5, 5, 5, 6, 6, 7, 7, 6, 7],
        ),
    ),
    "autoformer-b": (
        "base",
        _arch(
            576,
            [3.5, 3.5, 4.0, 3.5, 4.0, 3.5, 3.5, 3.0, 4.0, 4.0, 3.0, 4.0, 3.0, 3.5],
            [9, 9, 9, 9, 9, 10, 9, 9, 10, 9, 10, 9, 9, 10],
        ),
    ),
}

#: (params, MACs) as published (paper Table 1 and ImageNet results)
PUBLISHED: dict[str, tuple[float, float]] = {
    "autoformer-t": (5.7e6, 1.3e9),
    "autoformer-s": (22.9e6, 5.1e9),
    "autoformer-b": (54e6, 11e9),
}


def preset(name: str) -> tuple[str, Arch]:
    """(width name, network) of a preset; the error names the closest preset."""
    return lookup(PRESETS, name, "AutoFormer preset")
