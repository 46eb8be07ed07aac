"""The storage seam: what the study loop, resume and ``load_study`` need from a store.

A backend keeps studies and trials under the tracking contract (``storage.schema``).
``MlflowStorage`` is the real one (any MLflow tracking store, through MLflow's public
client); ``InMemoryStorage`` keeps the same records in a dict for fast tests. The contract
tests (tests/test_storage_contract.py) run over both.

Only the process that owns a study writes its runs (DESIGN principle 7): executors hand
results back and the study loop writes them here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunetrack._core import TrialState
from tunetrack.storage.schema import TAG_LEASE_EXPIRES, TAG_LEASE_OWNER


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset as logged on the study run: its role (``train`` | ``valid``), where it
    came from, the sha256 of its bytes and the prepared frame (for its schema)."""

    name: str
    role: str
    source: str
    sha256: str
    frame: Any
    target: str | None = None


@dataclass(frozen=True)
class RunData:
    """The parts of a run the study needs, detached from MLflow's entity classes.

    Times are epoch milliseconds; ``metrics`` holds each metric's latest value."""

    run_id: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None
    tags: Mapping[str, str]
    params: Mapping[str, str]
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class StudyRef:
    """What a trial needs to know about its study to file itself under it."""

    run_id: str
    experiment_id: str
    model: str


@dataclass(frozen=True)
class StudyRecord:
    """What a new study run carries: tags, params, the config and space as JSON, datasets."""

    model: str
    engine: str
    tags: Mapping[str, str]
    params: Mapping[str, Any]
    config: Mapping[str, Any]
    space: Mapping[str, Any]
    datasets: Sequence[DatasetRecord] = ()
    # Further JSON artifacts, by path under the run (e.g. schema.WARM_START_ARTIFACT).
    artifacts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialWrite:
    """Everything a finished trial writes, in one call.

    ``params`` is the typed truth (stored as JSON in a tag); ``ui_params`` what MLflow's
    params show (every leaf of the space). ``curve`` holds (round, validation loss)
    points (``schema.curve_points``), stored as metric history under
    ``schema.CURVE_METRIC``. A pruned trial's scores are stored as ``<metric>_at_prune``
    at the round in its ``schema.TAG_PRUNED_AT`` tag (``schema.stored_metrics``).
    """

    state: TrialState
    params: Mapping[str, Any]
    ui_params: Mapping[str, Any]
    metrics: Mapping[str, float]
    tags: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    curve: Sequence[tuple[int, float]] = ()


@dataclass(frozen=True)
class Lease:
    """A process's claim on a study run (``tunetrack.study.lease``): ``owner`` is
    ``host:pid:token``, ``expires`` the epoch second it lapses unless renewed."""

    owner: str
    expires: float

    @property
    def host(self) -> str:
        return self.owner.rsplit(":", 2)[0]

    @property
    def pid(self) -> int | None:
        parts = self.owner.rsplit(":", 2)
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def lease_tags(lease: Lease) -> dict[str, str]:
    """The study run's tags that store ``lease``."""
    return {TAG_LEASE_OWNER: lease.owner, TAG_LEASE_EXPIRES: repr(float(lease.expires))}


def lease_from_tags(tags: Mapping[str, str]) -> Lease | None:
    """The claim stored in a run's tags; an unreadable expiry counts as lapsed."""
    owner = tags.get(TAG_LEASE_OWNER)
    if not owner:
        return None
    try:
        expires = float(tags.get(TAG_LEASE_EXPIRES, "0"))
    except ValueError:
        expires = 0.0
    return Lease(owner=owner, expires=expires)


class StudyStorage(ABC):
    """A tracking store holding tunetrack studies (see the module docstring)."""

    #: The store's address as users write it (a tracking URI, or ``memory:``).
    location: str

    # -- set-up ---------------------------------------------------------------------------

    @abstractmethod
    def check_reachable(self) -> None:
        """Raise TrackingError, before anything is written, when the store cannot be used."""

    @abstractmethod
    def experiment_id(self, name: str, *, create: bool = True) -> str:
        """The id of the experiment ``name``, created when missing and ``create``.

        Raises TrackingError when it is deleted, or missing and not ``create``."""

    @abstractmethod
    def experiment_name(self, experiment_id: str) -> str: ...

    # -- writing --------------------------------------------------------------------------

    @abstractmethod
    def create_study(self, experiment_id: str, record: StudyRecord) -> str:
        """Create the study's parent run (RUNNING) with all of ``record``; returns its id.

        All or nothing: a study whose set-up could not be written is removed, and one
        whose process died while writing it is not a study to any reader (its role says
        set-up until the last write), for ``discard_setups`` to remove later."""

    def discard_setups(self, experiment_id: str, is_dead: Callable[[RunData], bool]) -> list[str]:
        """Remove the experiment's study runs left half set up whose process ``is_dead``
        says is gone; returns their ids (a store whose writes are atomic has none)."""
        return []

    @abstractmethod
    def start_trial(
        self, study: StudyRef, number: int, *, model: str, start_ms: int | None = None
    ) -> tuple[str, int]:
        """Create the trial's run, RUNNING; returns its id and start time (epoch ms)."""

    @abstractmethod
    def finish_trial(self, run_id: str, write: TrialWrite, *, end_ms: int | None = None) -> int:
        """Write the trial's outcome and close its run; returns the end time (epoch ms)."""

    @abstractmethod
    def finish_study(
        self, run_id: str, *, metrics: Mapping[str, float], status: str, tags: Mapping[str, str]
    ) -> None:
        """Log the study's summary metrics and tags, then set its run status."""

    @abstractmethod
    def reopen_study(self, run_id: str) -> None:
        """Mark a finished study RUNNING again (resume, ``Study.optimize``)."""

    @abstractmethod
    def update_study(
        self, run_id: str, *, tags: Mapping[str, str], config: Mapping[str, Any] | None = None
    ) -> None:
        """Set tags on the study run and, given ``config``, replace its config artifact
        (a resume that changed the budget)."""

    # The claim on a study run (see tunetrack.study.lease for the protocol built on these).

    @abstractmethod
    def read_lease(self, run_id: str) -> Lease | None:
        """The claim stored on the run, or None when there is none."""

    @abstractmethod
    def write_lease(self, run_id: str, lease: Lease) -> None:
        """Store ``lease`` on the run, replacing any claim there (no compare-and-set)."""

    @abstractmethod
    def drop_lease(self, run_id: str) -> None:
        """Remove the claim from the run (nothing when there is none)."""

    @abstractmethod
    def mark_killed(self, run_id: str, reason: str) -> None:
        """Close a trial its process left RUNNING (killed mid-trial)."""

    @abstractmethod
    def log_report(self, run_id: str, directory: str | Path) -> str:
        """Store a built report folder under the study; returns where it went."""

    # -- reading --------------------------------------------------------------------------

    @abstractmethod
    def get_run(self, run_id: str) -> RunData:
        """The run; TrackingError when there is none."""

    @abstractmethod
    def trial_runs(self, study_run_id: str, experiment_id: str) -> list[RunData]:
        """Every trial run of the study, in no particular order."""

    @abstractmethod
    def latest_study(self, experiment: str) -> RunData:
        """The experiment's most recently started study; TrackingError when none."""

    @abstractmethod
    def load_json_artifact(self, run_id: str, path: str) -> Any:
        """A JSON artifact of the run (the config, the space)."""

    @abstractmethod
    def curve(self, run_id: str) -> list[tuple[int, float]]:
        """A trial's stored validation curve: (round, loss) points by round; empty when
        none."""

    def mark_experiment_kind(self, experiment_id: str) -> None:  # noqa: B027 (optional)
        """Tag the experiment as model training for MLflow's UI; a store without a UI
        has nothing to do."""

    def ui_url(self, host: str, port: int, experiment_id: str) -> str:
        # The runs table itself: MLflow 3's bare experiment link opens a GenAI overview.
        return f"http://{host}:{port}/#/experiments/{experiment_id}/runs"
