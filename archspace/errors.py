"""Errors raised by the encoding. Each names the thing at fault and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass


class ArchSpaceError(ValueError):
    """Base class: a bad space definition, genotype or request."""


class SpaceDefinitionError(ArchSpaceError):
    """A space or choice is defined inconsistently (duplicate names, bad conditions...)."""


class GenotypeError(ArchSpaceError):
    """A genotype (dict, JSON, key or index vector) does not belong to the space."""


class InfeasibleError(ArchSpaceError):
    """No genotype satisfying a constraint could be found."""


class UnknownNameError(LookupError):
    """A registry lookup failed; the message lists the known names and the closest one."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


class EvaluatorError(RuntimeError):
    """The evaluator failed, not the architecture (out of memory, processes of a job
    that disagree): a search stops with it rather than record a failed candidate, which
    would bias it against whatever happened to be evaluated then (large networks)."""


@dataclass(frozen=True)
class FailedEvaluation:
    """One architecture's result when its evaluation failed, in place of a fitness: a
    batch reports the failure of one member without raising for all (and the processes
    of a job gather it like any result). `fatal`: the evaluator's fault (see
    `EvaluatorError`), not the architecture's."""

    reason: str
    fatal: bool = False


def describe_error(error: BaseException) -> str:
    """ "Type: message" (the type alone when there is no message), for failure records."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
