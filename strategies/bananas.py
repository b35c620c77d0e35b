"""BANANAS-style model-based search, as ask/tell (White et al. 2021, AAAI).

An ensemble of small predictors over a one-hot encoding of the active choices is fitted
to the evaluations so far; candidates are mutations of the best architectures found
(as BANANAS makes them) plus a few uniform samples; the ensemble's mean and spread give
an independent-Thompson-sampling acquisition, and the `batch_size` best candidates are
asked. numpy only (no torch: `strategies` stays torch-free).

Predictors (`predictor=`), compared on fixed problems in the module's tests/report:

* "mlp" (default): BANANAS's choice, an ensemble of MLPs (two hidden ReLU layers),
  differently initialised and fitted on bootstrap resamples, full-batch Adam, all
  members trained at once as stacked numpy arrays.
* "ridge": bootstrap ridge regression on the one-hot encoding (additive model).
* "features": bootstrap ridge on the one-hot plus random ReLU features (each member its
  own random projection): a cheap non-additive model.

With `proxy=NAME` the predictor gets one more input, the zero-cost proxy's score of each
architecture (signed log, standardised on the evaluated ones): the "proxy as a feature
of the predictor" of Abdelfattah et al. (ICLR 2021) and White et al.'s "How powerful are
performance predictors" (NeurIPS 2021). Scores come from the search's context
(`SearchContext.proxy`); whether it helps is measured in BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from archspace import Genotype, Space
from archspace.batch import active
from strategies.asktell import AskTellSearcher, SearchContext
from strategies.options import Option
from strategies.sampling import (
    feasible_mask,
    fresh_samples,
    mutate_one_rows,
    neighbour_rows,
    require_at_least,
)

PREDICTORS = ("mlp", "ridge", "features")
ACQUISITIONS = ("its", "ucb", "mean")


def one_hot(space: Space, rows: np.ndarray) -> np.ndarray:
    """(n, sum of free choices' option counts): a 1 per active free choice at its option."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, len(space))
    free = np.array(space.free, dtype=np.int64)
    if len(free) == 0:
        return np.zeros((len(rows), 0))
    counts = space.counts[free]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    encoded = np.zeros((len(rows), int(counts.sum())))
    hot = active(space, rows)[:, free].astype(float)
    columns = offsets[None, :] + rows[:, free]
    np.put_along_axis(encoded, columns, hot, axis=1)
    return encoded


# ---- predictors: fit(x, y, rng) then predict(x) -> (members, n) ----------------------------


class RidgeEnsemble:
    """Bootstrap ridge regressions, optionally on extra random ReLU features per member."""

    def __init__(self, members: int = 5, features: int = 0, alpha: float = 1.0) -> None:
        self.members, self.features, self.alpha = members, features, alpha

    def _expand(self, x: np.ndarray, m: int) -> np.ndarray:
        if not self.features:
            return x
        w, b = self.projections[m]
        return np.hstack([x, np.maximum(x @ w + b, 0.0) / np.sqrt(self.features)])

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> RidgeEnsemble:
        n, d = x.shape
        self.projections = [
            (
                rng.normal(0.0, 1.0 / np.sqrt(max(d, 1)), (d, self.features)),
                rng.normal(0, 0.5, self.features),
            )
            for _ in range(self.members)
        ]
        self.weights = []
        for m in range(self.members):
            pick = rng.integers(0, n, n)
            phi = self._expand(x[pick], m)
            mean_phi, mean_y = phi.mean(axis=0), y[pick].mean()
            centred = phi - mean_phi
            gram = centred.T @ centred + self.alpha * np.eye(phi.shape[1])
            w = np.linalg.solve(gram, centred.T @ (y[pick] - mean_y))
            self.weights.append((w, mean_y - mean_phi @ w))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.stack([self._expand(x, m) @ w + c for m, (w, c) in enumerate(self.weights)])


class MLPEnsemble:
    """`members` MLPs d -> hidden -> hidden -> 1 (ReLU), each on its own bootstrap
    resample and initialisation, trained together by full-batch Adam on the MSE plus a
    small L2 penalty."""

    def __init__(
        self,
        members: int = 5,
        hidden: int = 32,
        epochs: int = 200,
        lr: float = 0.01,
        l2: float = 1e-3,
    ) -> None:
        self.members, self.hidden, self.epochs, self.lr, self.l2 = members, hidden, epochs, lr, l2

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> MLPEnsemble:
        n, d = x.shape
        m, h = self.members, self.hidden
        params = [
            rng.normal(0.0, np.sqrt(2.0 / max(d, 1)), (m, d, h)),
            np.zeros((m, 1, h)),
            rng.normal(0.0, np.sqrt(2.0 / h), (m, h, h)),
            np.zeros((m, 1, h)),
            rng.normal(0.0, np.sqrt(1.0 / h), (m, h, 1)),
            np.zeros((m, 1, 1)),
        ]
        pick = rng.integers(0, n, (m, n))
        xs, ys = x[pick], y[pick][:, :, None]  # (m, n, d), (m, n, 1)
        first = [np.zeros_like(p) for p in params]
        second = [np.zeros_like(p) for p in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        for step in range(1, self.epochs + 1):
            w1, b1, w2, b2, w3, b3 = params
            a1 = xs @ w1 + b1
            h1 = np.maximum(a1, 0.0)
            a2 = h1 @ w2 + b2
            h2 = np.maximum(a2, 0.0)
            out = h2 @ w3 + b3
            g_out = 2.0 * (out - ys) / n
            g_w3 = h2.transpose(0, 2, 1) @ g_out + self.l2 * w3
            g_b3 = g_out.sum(axis=1, keepdims=True)
            g_a2 = (g_out @ w3.transpose(0, 2, 1)) * (a2 > 0)
            g_w2 = h1.transpose(0, 2, 1) @ g_a2 + self.l2 * w2
            g_b2 = g_a2.sum(axis=1, keepdims=True)
            g_a1 = (g_a2 @ w2.transpose(0, 2, 1)) * (a1 > 0)
            g_w1 = xs.transpose(0, 2, 1) @ g_a1 + self.l2 * w1
            g_b1 = g_a1.sum(axis=1, keepdims=True)
            grads = [g_w1, g_b1, g_w2, g_b2, g_w3, g_b3]
            scale1, scale2 = 1 - beta1**step, 1 - beta2**step
            for p, g, mo, v in zip(params, grads, first, second):
                mo *= beta1
                mo += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g * g
                p -= self.lr * (mo / scale1) / (np.sqrt(v / scale2) + eps)
        self.params = params
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = np.maximum(x[None] @ w1 + b1, 0.0)
        h2 = np.maximum(h1 @ w2 + b2, 0.0)
        return (h2 @ w3 + b3)[:, :, 0]


def make_predictor(kind: str, members: int) -> RidgeEnsemble | MLPEnsemble:
    if kind == "mlp":
        return MLPEnsemble(members)
    if kind == "ridge":
        return RidgeEnsemble(members)
    if kind == "features":
        return RidgeEnsemble(members, features=128)
    raise ValueError(f"bananas: unknown predictor {kind!r}; allowed: {', '.join(PREDICTORS)}")


# ---- the searcher -------------------------------------------------------------------------


class Bananas(AskTellSearcher):
    """Model-based search after BANANAS: predictor ensemble + mutation candidates + ITS.

    * The first `initial` asks are feasible samples (one batch; uniform, or the warm-up's
      best: `context.initial_population`); the model starts
      once at least two evaluations succeeded.
    * Each later `ask`: fit the `ensemble` predictors to every successful evaluation
      (fitness standardised, failures left out); make candidates: with `neighbours`,
      every one-choice neighbour of each of the `parents` best architectures, then
      `mutations` one- or two-choice mutants of each, plus `random_candidates` uniform
      samples, all feasible, new and distinct; add the neighbours of the `refine`
      candidates the model likes best (one step of local search on the predicted mean,
      so the model can lead the search into another basin); score them all by the
      acquisition and ask the `batch_size` best.
    * Acquisition "its" (BANANAS's independent Thompson sampling: one draw per candidate
      from a normal with the ensemble's mean and spread), "ucb" (mean + spread) or "mean".
    * Cost per ask at 500 evaluations on a 6-choice x 5-option space: ~0.1 s ("mlp").
    * Defaults: 10 initial samples, then 5 per ask; candidates from the neighbours and
      20 mutants of each of the 5 best, refined around the 3 the model likes best. On
      NAS-Bench-201 (mean regret in accuracy points at 100 / 200 evaluations; batch
      sizes chosen on seeds 0-29, the rest on seeds outside 0-99, every step in
      BENCHMARKS.md): 5 best x 20 mutants 0.093 /
      0.017 (seeds 200-259); adding their neighbours 0.065 / 0.001 there and 0.083 /
      0.010 on seeds 300-599; adding the refinement 0.075 / 0.006 on seeds 300-599.
    """

    name: ClassVar[str] = "bananas"
    summary: ClassVar[str] = (
        "predictor ensemble + mutation candidates + Thompson sampling (White et al. 2021, "
        "AAAI, 'BANANAS: Bayesian Optimization with Neural Architectures for NAS')"
    )
    default_evaluations: int = 300

    options: ClassVar[tuple[Option, ...]] = (
        Option("initial", int, 10, "random evaluations before the predictor", low=1),
        Option("batch_size", int, 5, "proposals per ask", low=1),
        Option("ensemble", int, 5, "predictors in the ensemble", low=1),
        Option("parents", int, 5, "best architectures mutated into candidates", low=1),
        Option("mutations", int, 20, "mutated candidates per parent", low=1),
        Option("neighbours", bool, True, "add the parents' one-choice neighbours"),
        Option("random_candidates", int, 50, "uniform samples added to the candidates", low=1),
        Option("refine", int, 3, "rounds of mutating the best-scored candidates", low=0),
        Option("predictor", str, "mlp", "the ensemble's model", choices=tuple(PREDICTORS)),
        Option("acquisition", str, "its", "how candidates are scored", choices=tuple(ACQUISITIONS)),
        Option("proxy", str, "", "a zero-cost proxy as one more predictor input ('': none)"),
    )

    def __init__(
        self,
        initial: int = 10,
        batch_size: int = 5,
        ensemble: int = 5,
        parents: int = 5,
        mutations: int = 20,
        neighbours: bool = True,
        random_candidates: int = 50,
        refine: int = 3,
        predictor: str = "mlp",
        acquisition: str = "its",
        proxy: str = "",
    ) -> None:
        require_at_least(
            self.name,
            1,
            initial=initial,
            batch_size=batch_size,
            ensemble=ensemble,
            parents=parents,
            mutations=mutations,
            random_candidates=random_candidates,
        )
        require_at_least(self.name, 0, refine=refine)
        make_predictor(predictor, 1)  # validates the name
        if acquisition not in ACQUISITIONS:
            raise ValueError(
                f"bananas: unknown acquisition {acquisition!r}; allowed: {', '.join(ACQUISITIONS)}"
            )
        self.initial = initial
        self.batch_size = batch_size
        self.ensemble = ensemble
        self.parents = parents
        self.mutations = mutations
        self.neighbours = bool(neighbours)
        self.random_candidates = random_candidates
        self.refine = refine
        self.predictor = predictor
        self.acquisition = acquisition
        if proxy:
            from archspace.proxies import check_proxies

            check_proxies(proxy)
        self.proxy = proxy

    def start(self, context: SearchContext) -> None:
        if self.proxy and context.proxy is None:
            raise ValueError(
                f"bananas: proxy={self.proxy!r} needs a search that scores zero-cost proxies "
                "(a pipeline's, or run_search(proxy=...))"
            )
        super().start(context)
        self.fitness: dict[str, float | None] = {}  # everything told, in order
        self.rows: dict[str, tuple[int, ...]] = {}
        self.scorer = context.proxy(self.proxy) if self.proxy else None

    def ask(self) -> list[Genotype]:
        good = [k for k, f in self.fitness.items() if f is not None]
        if len(self.fitness) < self.initial or len(good) < 2:
            missing = max(self.initial - len(self.fitness), self.batch_size if good else 1)
            return self.context.initial_population(missing, self.fitness)
        space, rng = self.context.space, self.context.rng
        candidates = self._candidates(good)
        if len(candidates) == 0:
            return fresh_samples(self.context, self.batch_size, self.fitness)
        y = np.array([self.fitness[k] for k in good])
        y = (y - y.mean()) / (y.std() or 1.0)
        x, encode = self._encoder(np.array([self.rows[k] for k in good]))
        model = make_predictor(self.predictor, self.ensemble).fit(x, y, rng)
        predictions = model.predict(encode(candidates))
        if self.refine:
            liked = np.argsort(-predictions.mean(axis=0), kind="stable")[: self.refine]
            candidates = self._with_neighbours(candidates, candidates[liked])
            predictions = model.predict(encode(candidates))
        mean, spread = predictions.mean(axis=0), predictions.std(axis=0)
        if self.acquisition == "its":
            score = mean + spread * rng.standard_normal(len(mean))
        elif self.acquisition == "ucb":
            score = mean + spread
        else:
            score = mean
        order = np.argsort(-score, kind="stable")[: self.batch_size]
        return space.from_array(candidates[order])

    def _encoder(self, evaluated: np.ndarray):
        """The evaluated rows' predictor inputs, and the function that makes other rows'
        alike: the one-hot encoding, and with a proxy its score (signed log: synflow
        spans 1e-10 to 1e40) standardised on the evaluated rows; an unscorable
        architecture (non-finite) gets the lowest evaluated value."""
        space = self.context.space
        if self.scorer is None:
            return one_hot(space, evaluated), lambda rows: one_hot(space, rows)

        def signed_log(rows: np.ndarray) -> np.ndarray:
            scores = np.asarray(self.scorer(space.from_array(rows)), dtype=float)
            finite = np.isfinite(scores)
            out = np.full(len(scores), np.nan)
            out[finite] = np.sign(scores[finite]) * np.log1p(np.abs(scores[finite]))
            return out

        base = signed_log(evaluated)
        known = base[np.isfinite(base)]
        low, centre, scale = (
            (known.min(), known.mean(), known.std() or 1.0) if len(known) else (0.0, 0.0, 1.0)
        )

        def inputs(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
            values = (np.where(np.isnan(values), low, values) - centre) / scale
            return np.hstack([one_hot(space, rows), values[:, None]])

        return inputs(evaluated, base), lambda rows: inputs(rows, signed_log(rows))

    def _candidates(self, good: list[str]) -> np.ndarray:
        """Distinct feasible unseen rows: every one-choice neighbour of the best, their
        one- or two-choice mutants, and uniform samples."""
        space, rng = self.context.space, self.context.rng
        best = sorted(good, key=lambda k: -self.fitness[k])[: self.parents]  # stable
        parents = np.array([self.rows[k] for k in best])
        mutants = mutate_one_rows(space, np.repeat(parents, self.mutations, axis=0), rng)
        twice = rng.random(len(mutants)) < 0.5
        mutants[twice] = mutate_one_rows(space, mutants[twice], rng)
        near = (
            [neighbour_rows(space, g) for g in space.from_array(parents)] if self.neighbours else []
        )
        rows = np.concatenate([*near, mutants])
        rows = rows[feasible_mask(space, self.context.constraint, rows)]
        samples = fresh_samples(self.context, self.random_candidates, self.fitness, retries=0)
        if samples:
            rows = np.concatenate([rows, space.to_array(samples)])
        _, first = np.unique(rows, axis=0, return_index=True)
        rows = rows[np.sort(first)]  # distinct, in order of making (deterministic)
        new = [g.key not in self.fitness for g in space.from_array(rows)]
        return rows[np.array(new, dtype=bool)] if len(rows) else rows

    def _with_neighbours(self, candidates: np.ndarray, around: np.ndarray) -> np.ndarray:
        """`candidates` plus the feasible unseen one-choice neighbours of `around`."""
        space = self.context.space
        near = np.concatenate([neighbour_rows(space, g) for g in space.from_array(around)])
        near = near[feasible_mask(space, self.context.constraint, near)]
        rows = np.concatenate([candidates, near])
        _, first = np.unique(rows, axis=0, return_index=True)
        rows = rows[np.sort(first)]
        new = [g.key not in self.fitness for g in space.from_array(rows)]
        return rows[np.array(new, dtype=bool)]

    def tell(self, genotypes: Sequence[Genotype], fitnesses: Sequence[float | None]) -> None:
        for genotype, fitness in zip(genotypes, fitnesses):
            self.fitness[genotype.key] = None if fitness is None else float(fitness)
            self.rows[genotype.key] = genotype.indices
