"""Options and error handling shared by the ``hnl-coffea`` subcommands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from ..config import AnalysisConfig, ConfigError, load_config

__all__ = [
    "allow_pickle_option",
    "config_options",
    "load_cli_config",
    "load_fileset_cli",
    "no_progress_option",
    "not_implemented",
    "read_output",
    "user_errors",
]

#: Exceptions whose one-line message is shown to the user instead of a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, ValueError, FileNotFoundError, OSError)


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config FILE`` (repeatable) and ``--set key=value`` (repeatable)."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override one config field, e.g. --set objects.tau.vs_jet=Tight (repeatable).",
    )(func)
    func = click.option(
        "--config",
        "config_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="YAML file overlaid on the default configuration (repeatable).",
    )(func)
    return func


def load_cli_config(config_files: tuple[str, ...], overrides: tuple[str, ...]) -> AnalysisConfig:
    """Load the configuration from CLI options; errors become one-line click errors."""
    try:
        return load_config(*config_files, overrides=overrides)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def allow_pickle_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--allow-pickle``: also read ``coffea.util.save`` pickles (your own files only)."""
    return click.option(
        "--allow-pickle",
        is_flag=True,
        help="Also read a coffea pickle output (.coffea); unpickling runs any code the file "
        "holds, so only for files you made.",
    )(func)


def no_progress_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--no-progress`` (hide progress bars and spinners)."""
    return click.option("--no-progress", is_flag=True, help="Hide progress displays.")(func)


def read_output(file: str, allow_pickle: bool = False) -> dict[str, Any]:
    """Read a processor output file (see :mod:`hnl_coffea.outputs`); notes go to stderr."""
    from ..outputs import load_output

    return load_output(file, allow_pickle=allow_pickle, note=lambda m: click.echo(m, err=True))


def load_fileset_cli(path: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`hnl_coffea.fileset.load_fileset`, each of its warnings printed as one line."""
    import warnings

    from ..fileset import FilesetWarning, load_fileset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FilesetWarning)
        files = load_fileset(path, **kwargs)
    for w in caught:
        if issubclass(w.category, FilesetWarning):
            click.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return files


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected user-facing errors into a one-line message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except USER_ERRORS as err:
            raise click.ClickException(f"{type(err).__name__}: {err}") from None

    return wrapper


def not_implemented(what: str) -> None:
    """Exit non-zero saying a subcommand is not available in this version."""
    raise click.ClickException(f"'{what}' is not implemented in this version of hnl-coffea")
