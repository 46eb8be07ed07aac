"""The project's own errors.

Every error a user can cause by bad input is a ``TunetrackError``: the CLI prints its
message as one line and exits with code 2. The message names the problem and the fix.
"""

from __future__ import annotations


def first_line(err: BaseException) -> str:
    """The first line of a library's error message, for quoting inside our one-line errors."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


class TunetrackError(Exception):
    """Base class for errors a user can fix; ``str(err)`` is a one-line message."""

    exit_code = 2


class ConfigError(TunetrackError):
    """The study configuration (YAML, overrides or keyword arguments) is invalid."""


class SearchSpaceError(ConfigError):
    """A search-space entry is invalid (unknown distribution, bad bounds, wrong types)."""


class DataError(TunetrackError):
    """A dataset is missing, unreadable, or lacks what the recipe needs."""


class TrackingError(TunetrackError):
    """The MLflow tracking store cannot be reached or written."""


class TrackingUnavailable(TrackingError):
    """A tracking server does not answer (down, unreachable, or silent past the wait)."""


class TrackingLost(TrackingUnavailable):
    """The tracking server stopped answering while a study ran: the study stopped, its
    recorded trials are kept, and it can be resumed once the server is back."""

    exit_code = 1

    def __init__(self, message: str, study_run_id: str) -> None:
        super().__init__(message)
        self.study_run_id = study_run_id


class StudyFailedError(TunetrackError):
    """Every trial of a study failed; the message carries the first reason."""

    exit_code = 1


class StudyClaimedError(TunetrackError):
    """Another process holds the claim on the study (it is running it), or took it over
    while this process ran it."""


class ModelError(TunetrackError):
    """A model cannot be built, registered, loaded or used as asked."""


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM under the CLI) ended a study; it can be resumed. ``n_killed``:
    the trials that were in flight, now closed as KILLED.

    A KeyboardInterrupt, so a notebook treats it as the interrupt it is.
    """

    def __init__(
        self, study_run_id: str, n_finished: int, *, closed: bool = True, n_killed: int = 0
    ) -> None:
        if not closed:
            left = (
                "interrupted again while closing it, so the study (and any trial in flight) "
                "stays RUNNING until --resume closes it"
            )
        elif n_killed == 0:
            left = "no trial was in flight"
        elif n_killed == 1:
            left = "1 trial in flight was marked KILLED"
        else:
            left = f"{n_killed} trials in flight were marked KILLED"
        super().__init__(
            f"study {study_run_id} interrupted after {n_finished} finished trial(s); {left}"
        )
        self.study_run_id = study_run_id
        self.n_finished = n_finished


class SetupInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM under the CLI) arrived while a new study's run was being set
    up: the half-made run was removed, or (a second interrupt, a store that stopped
    answering) left as a set-up that no reader takes for a study and the next ``tune``
    in the experiment removes."""

    def __init__(self, run_id: str, *, removed: bool = True) -> None:
        left = (
            "it was removed; nothing else was written"
            if removed
            else "it is marked unfinished: report, select and --resume skip it, and the next "
            "tune in the experiment removes it"
        )
        super().__init__(f"interrupted while study run {run_id} was being set up; {left}")
        self.run_id = run_id
