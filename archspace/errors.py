"""Errors raised by the encoding. Each names the thing at fault and what is allowed."""

from __future__ import annotations


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
