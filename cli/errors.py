"""One-paragraph errors instead of tracebacks, with the documented exit codes.

2: bad usage or bad input (unknown names, malformed architectures, infeasible budgets,
missing data, a run folder in use); 1: the run itself failed. `ARCHSEARCH_DEBUG=1`
shows the traceback as well.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from archspace import ArchSpaceError, UnknownNameError

F = TypeVar("F", bound=Callable[..., Any])


class BadInput(click.ClickException):
    exit_code = 2

    def format_message(self) -> str:
        return self.message


class RunFailed(click.ClickException):
    exit_code = 1


def _bad_input_types() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input (data errors are ValueErrors, caught with those)."""
    from strategies.store import RunInUseError

    return (ArchSpaceError, UnknownNameError, RunInUseError, FileNotFoundError, KeyError)


def friendly_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except _bad_input_types() as error:
            if os.environ.get("ARCHSEARCH_DEBUG"):
                raise
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            raise BadInput(str(message)) from error
        except ValueError as error:
            if os.environ.get("ARCHSEARCH_DEBUG"):
                raise
            raise BadInput(str(error)) from error
        except (KeyboardInterrupt, click.Abort):
            raise
        except Exception as error:
            if os.environ.get("ARCHSEARCH_DEBUG"):
                raise
            raise RunFailed(f"{type(error).__name__}: {error}") from error

    return wrapper  # type: ignore[return-value]
