"""One live writer per study: a claim (lease) on the study run, renewed while it runs.

The process running a study stores ``host:pid:token`` and an expiry on the study run
(``schema.TAG_LEASE_OWNER`` / ``TAG_LEASE_EXPIRES``), renews it from a background thread
every quarter of its time to live, and removes it when the study ends (Ctrl-C and SIGTERM
included: the CLI turns SIGTERM into KeyboardInterrupt). A second runner finding a live
claim is refused in one line naming the holder. A crashed process's claim lapses after
the time to live (``TUNETRACK_LEASE_SECONDS``, default 60); on the same host a claim whose
process no longer exists is taken over at once.

MLflow has no compare-and-set, so a claim is written and then verified: after
``SETTLE_SECONDS`` the claimant reads the owner back and keeps going only if its own token
is still there (tags are last-writer-wins, so of two claimants writing at once exactly one
token survives and the other is refused). The race that remains: a claimant stalled for
longer than ``SETTLE_SECONDS`` between reading "no live claim" and writing its own (or
between a renewal's read and write) can overwrite a claim already verified, and both
processes then believe they hold the study. Each renewal reads the owner first, so the
displaced process notices within one renewal period and starts no further trial (the
trials it has in flight still finish and are written).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from tunetrack.exceptions import StudyClaimedError
from tunetrack.storage import Lease, StudyStorage

LEASE_ENV = "TUNETRACK_LEASE_SECONDS"
DEFAULT_TTL = 60.0
# How long a claimant waits before reading its claim back: far longer than one store
# round trip between a competitor's read and write.
SETTLE_SECONDS = 0.5


def lease_ttl() -> float:
    """The claim's time to live in seconds: ``TUNETRACK_LEASE_SECONDS`` or 60."""
    text = os.environ.get(LEASE_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TTL
    except ValueError:
        value = DEFAULT_TTL
    return value if value > 0 else DEFAULT_TTL


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def new_lease(owner: str, ttl: float) -> Lease:
    return Lease(owner=owner, expires=time.time() + ttl)


def is_live(lease: Lease | None, *, now: float | None = None) -> bool:
    """Whether ``lease`` still holds: not expired, and not left by a process of this host
    that no longer exists (a crashed or killed run need not wait out its claim).

    PIDs are only compared on the same host name; two hosts sharing a name and PID
    namespace rules are the one case where a live claim could be taken for dead."""
    if lease is None:
        return False
    if lease.expires <= (time.time() if now is None else now):
        return False
    if lease.host == socket.gethostname() and lease.pid is not None:
        return _process_exists(lease.pid)
    return True


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def describe(lease: Lease) -> str:
    """The holder and expiry of a claim, as the refusal states them."""
    left = max(0.0, lease.expires - time.time())
    until = time.strftime("%H:%M:%S", time.localtime(lease.expires))
    return (
        f"pid {lease.pid if lease.pid is not None else '?'} on host {lease.host}, "
        f"whose claim expires at {until} ({left:.0f} s) unless it renews it"
    )


def refuse(run_id: str, lease: Lease) -> StudyClaimedError:
    return StudyClaimedError(
        f"study {run_id} is being run by {describe(lease)}; wait for it to finish, or "
        "resume once its claim has lapsed if that process is gone"
    )


# How long abandoning a claim waits for a renewal in flight (a dead server's request may hang).
ABANDON_WAIT_S = 5.0


@dataclass
class Claim:
    """This process's claim on a study run, renewed by a daemon thread until released.

    ``lost`` turns true when a renewal finds another owner's token: the study loop then
    starts no further trial and the study's summary is left to the new owner."""

    storage: StudyStorage
    run_id: str
    owner: str
    ttl: float
    lost_to: Lease | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        return self.lost_to is not None

    def start_renewing(self) -> None:
        self._thread = threading.Thread(
            target=self._renew_loop, name=f"tunetrack-lease-{self.run_id[:8]}", daemon=True
        )
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self.renew()
            except Exception:  # the store is unreachable for now: try again next period
                continue
            if self.lost:
                return

    def renew(self) -> None:
        """Extend the claim, unless another process's token is there now."""
        current = self.storage.read_lease(self.run_id)
        if current is not None and current.owner != self.owner:
            self.lost_to = current
            return
        self.storage.write_lease(self.run_id, new_lease(self.owner, self.ttl))

    def release(self) -> None:
        """Stop renewing and remove the claim if it is still this process's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl)
        if self.lost:
            return
        current = self.storage.read_lease(self.run_id)
        if current is not None and current.owner == self.owner:
            self.storage.drop_lease(self.run_id)

    def abandon(self) -> None:
        """Stop renewing without a request (the store does not answer): the claim lapses
        after its time to live, and on this host as soon as this process has exited.

        Waits a few seconds for a renewal already in flight, so none lands after this
        returns (the process may live on: a notebook that resumes once the claim lapses)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=min(self.ttl, ABANDON_WAIT_S))

    def lost_error(self) -> StudyClaimedError:
        holder = describe(self.lost_to) if self.lost_to is not None else "another process"
        return StudyClaimedError(
            f"study {self.run_id} was taken over by {holder} while this process ran it "
            f"(this process could not renew its claim within {self.ttl:.0f} s); its "
            "trials so far are recorded, and the new owner finishes the study"
        )


def claim_study(
    storage: StudyStorage,
    run_id: str,
    *,
    ttl: float | None = None,
    settle: float = SETTLE_SECONDS,
) -> Claim:
    """Claim the existing study run ``run_id`` for this process (see the module
    docstring); raises StudyClaimedError naming the holder of a live claim."""
    ttl = lease_ttl() if ttl is None else ttl
    current = storage.read_lease(run_id)
    if is_live(current):
        assert current is not None
        raise refuse(run_id, current)
    owner = new_owner()
    storage.write_lease(run_id, new_lease(owner, ttl))
    time.sleep(settle)
    current = storage.read_lease(run_id)
    if current is None or current.owner != owner:
        if current is not None and is_live(current):
            raise refuse(run_id, current)
        raise StudyClaimedError(
            f"study {run_id} is being claimed by another process at the same moment; "
            "try again in a few seconds"
        )
    return Claim(storage, run_id, owner, ttl)


def held_claim(storage: StudyStorage, run_id: str, owner: str, ttl: float) -> Claim:
    """The claim of a study run this process created with ``owner``'s lease in its tags
    (a new run: no other process can have claimed it before it existed)."""
    return Claim(storage, run_id, owner, ttl)
