"""Training recipes: the paper's (`paper`) and one sized for a 2-core CPU (`quick`).

`paper` follows GLiT section 4.1 for supernet training (SPOS: Nesterov SGD, momentum
0.9, lr 0.2 at batch 1024 cosine to 0, weight decay 1e-4, label smoothing 0.1, 100
epochs) and DeiT's recipe for retraining (AdamW, lr 5e-4 x batch/512, weight decay
0.05, 5 warm-up epochs then cosine, label smoothing 0.1, RandAugment, MixUp 0.8,
CutMix 1.0, random erasing 0.25, drop-path 0.1, 300 epochs). `quick` keeps the
optimisers and shrinks epochs and batch sizes so a whole search fits in minutes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: the training augmentations of `oneshot.transforms.AUGMENTS`, and "auto" ("deit" for
#: imagefolder sources, else "light"); repeated so that recipes import without torchvision
AUGMENT_NAMES = ("auto", "none", "light", "deit")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: rule name -> (test, what is allowed); None passes the `optional_` rules
_RULES: dict[str, tuple[Any, str]] = {
    "positive_int": (lambda v: _is_int(v) and v >= 1, "a positive int"),
    "count": (lambda v: _is_int(v) and v >= 0, "a non-negative int"),
    "optional_positive_int": (
        lambda v: v is None or (_is_int(v) and v >= 1),
        "a positive int or null (no cap)",
    ),
    "positive": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "optional_positive": (lambda v: v is None or (_is_number(v) and v > 0), "a number > 0 or null"),
    "non_negative": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "fraction": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "probability": (lambda v: _is_number(v) and 0 <= v <= 1, "a probability in [0, 1]"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "augment": (lambda v: v in AUGMENT_NAMES, "one of " + ", ".join(AUGMENT_NAMES)),
}


def _check_fields(recipe: Any, section: str, rules: dict[str, str]) -> None:
    """Refuse a bad recipe value by its dotted name, saying what is allowed."""
    for name, rule in rules.items():
        value = getattr(recipe, name)
        test, allowed = _RULES[rule]
        if not test(value):
            raise ValueError(f"recipe.{section}.{name} must be {allowed}, got {value!r}")


#: the rules every training recipe shares
_LOOP_RULES = {
    "epochs": "positive_int",
    "batch_size": "positive_int",
    "lr": "positive",
    "lr_reference_batch": "positive_int",
}


class _LinearScaling:
    """The learning rate is given at `lr_reference_batch` and scales with the batch."""

    lr: float
    batch_size: int
    lr_reference_batch: int

    @property
    def scaled_lr(self) -> float:
        return self.lr * self.batch_size / self.lr_reference_batch


@dataclass(frozen=True)
class SupernetRecipe(_LinearScaling):
    epochs: int = 100
    batch_size: int = 1024
    lr: float = 0.2  # at batch 1024; scaled linearly with the batch size
    lr_reference_batch: int = 1024
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    warmup_epochs: float = 0.0
    augment: str = "light"
    max_steps_per_epoch: int | None = None

    RULES: ClassVar[dict[str, str]] = {
        **_LOOP_RULES,
        "momentum": "fraction",
        "nesterov": "bool",
        "weight_decay": "non_negative",
        "label_smoothing": "fraction",
        "warmup_epochs": "non_negative",
        "augment": "augment",
        "max_steps_per_epoch": "optional_positive_int",
    }

    def __post_init__(self) -> None:
        _check_fields(self, "supernet", self.RULES)


@dataclass(frozen=True)
class RetrainRecipe(_LinearScaling):
    epochs: int = 300
    batch_size: int = 1024
    lr: float = 5e-4  # at batch 512; scaled linearly with the batch size
    lr_reference_batch: int = 512
    weight_decay: float = 0.05
    warmup_epochs: float = 5.0
    min_lr: float = 1e-5
    label_smoothing: float = 0.1
    augment: str = "auto"  # "deit" for imagefolder (ImageNet-like) sources, else "light"
    mixup: float = 0.8
    cutmix: float = 1.0
    drop_path: float = 0.1
    clip_grad: float | None = None
    max_steps_per_epoch: int | None = None

    RULES: ClassVar[dict[str, str]] = {
        **_LOOP_RULES,
        "weight_decay": "non_negative",
        "warmup_epochs": "non_negative",
        "min_lr": "non_negative",
        "label_smoothing": "fraction",
        "augment": "augment",
        "mixup": "non_negative",  # Beta-distribution alphas (0: off), as in DeiT
        "cutmix": "non_negative",
        "drop_path": "fraction",
        "clip_grad": "optional_positive",
        "max_steps_per_epoch": "optional_positive_int",
    }

    def __post_init__(self) -> None:
        _check_fields(self, "retrain", self.RULES)


@dataclass(frozen=True)
class EvalRecipe:
    batch_size: int = 256
    bn_batches: int = 20  # BatchNorm recalibration batches per subnet (SPOS)
    bn_batch_size: int = 64
    #: cap on search-validation images per evaluation: a seeded, class-stratified draw
    max_images: int | None = None

    RULES: ClassVar[dict[str, str]] = {
        "batch_size": "positive_int",
        "bn_batches": "count",  # 0: no BatchNorm recalibration
        "bn_batch_size": "positive_int",
        "max_images": "optional_positive_int",
    }

    def __post_init__(self) -> None:
        _check_fields(self, "eval", self.RULES)


@dataclass(frozen=True)
class Recipe:
    name: str
    supernet: SupernetRecipe = field(default_factory=SupernetRecipe)
    retrain: RetrainRecipe = field(default_factory=RetrainRecipe)
    eval: EvalRecipe = field(default_factory=EvalRecipe)
    #: search-validation images held out of the training split: a count or a fraction,
    #: capped at val_max (the paper's 50K of ImageNet's 1.28M; 5% of smaller sets)
    val_size: int | float = 0.05
    val_max: int | None = 50_000

    def __post_init__(self) -> None:
        """The hold-out's form, as `oneshot.datasets.holdout_count` reads it (its size
        against the data is checked when the data is split)."""
        for section, cls in (
            ("supernet", SupernetRecipe),
            ("retrain", RetrainRecipe),
            ("eval", EvalRecipe),
        ):
            if not isinstance(getattr(self, section), cls):
                raise ValueError(
                    f"recipe.{section} must be a table of {section} fields, got "
                    f"{getattr(self, section)!r}"
                )
        size = self.val_size
        if isinstance(size, bool) or not isinstance(size, (int, float)):
            raise ValueError(
                "recipe.val_size must be an int count (>= 1) or a float fraction in (0, 1), "
                f"got {size!r}"
            )
        if isinstance(size, int) and size < 1:
            raise ValueError(f"recipe.val_size as a count must be at least 1, got {size!r}")
        if isinstance(size, float) and not 0.0 < size < 1.0:
            raise ValueError(f"recipe.val_size as a fraction must be in (0, 1), got {size!r}")
        if not _RULES["optional_positive_int"][0](self.val_max):
            raise ValueError(
                f"recipe.val_max must be a positive int or null (no cap), got {self.val_max!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def override(self, **changes: Any) -> Recipe:
        """Change fields by dotted name, e.g. override(**{"supernet.epochs": 3})."""
        parts: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if name:
                if section not in ("supernet", "retrain", "eval"):
                    raise KeyError(
                        f"unknown recipe section {section!r} in {key!r}; "
                        "allowed: supernet, retrain, eval"
                    )
                allowed = {f.name for f in dataclasses.fields(getattr(self, section))}
                if name not in allowed:
                    raise KeyError(
                        f"unknown recipe field {key!r}; allowed in {section}: "
                        + ", ".join(sorted(allowed))
                    )
                parts.setdefault(section, {})[name] = value
            elif key in ("val_size", "val_max"):
                top[key] = value
            else:
                raise KeyError(f"unknown recipe field {key!r}")
        replaced = {s: dataclasses.replace(getattr(self, s), **v) for s, v in parts.items()}
        return dataclasses.replace(self, **replaced, **top)


RECIPES: dict[str, Recipe] = {
    "paper": Recipe("paper"),
    "quick": Recipe(
        "quick",
        supernet=SupernetRecipe(epochs=2, batch_size=128, lr=0.2, lr_reference_batch=256),
        retrain=RetrainRecipe(
            epochs=3,
            batch_size=128,
            lr=1e-3,
            lr_reference_batch=128,
            warmup_epochs=0.5,
            augment="light",
            mixup=0.0,
            cutmix=0.0,
            drop_path=0.0,
            clip_grad=5.0,
        ),
        eval=EvalRecipe(batch_size=500, bn_batches=2, bn_batch_size=128, max_images=500),
        val_size=0.125,  # 1,000 of the built-in set's 8,000
        val_max=1000,
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown profile {name!r}; allowed: {', '.join(RECIPES)}")
    return RECIPES[name]
