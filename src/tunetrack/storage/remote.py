"""Tracking servers seen from a client: bounded waits and one-line errors.

MLflow's client retries a failing HTTP request with exponential backoff for about four
minutes by default (``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` 7, backoff factor 2), and a study
makes several requests after the one that failed, so a dead server used to block ``tune``
for minutes. ``bound_http_waits`` sets MLflow's own variables, where the user has not, so
that one request gives up after about ``TUNETRACK_SERVER_WAIT_SECONDS`` (default 60) of
retries; a server back within that time loses nothing. It also turns off the "View run"
lines MLflow's client prints for every run it ends on a server (and the request each costs).

``translate`` turns what MLflow raises for a server that cannot be reached (connection
refused, a timeout, retries exhausted), a login it refuses (401) or a permission it denies
(403) into tunetrack's errors, each one line naming the fix; ``GuardedClient`` applies it
to every call of an ``MlflowClient``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, MutableMapping
from typing import Any

from tunetrack.exceptions import TrackingError, TrackingUnavailable, first_line

WAIT_ENV = "TUNETRACK_SERVER_WAIT_SECONDS"
DEFAULT_WAIT_S = 60.0
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
_RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
_BACKOFF_ENV = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"
_TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
_QUIET_ENV = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
_UNAVAILABLE = ("ConnectionError", "Timeout", "RetryError", "MaxRetryError", "ReadTimeout")


def server_wait(environ: MutableMapping[str, str] | None = None) -> float:
    """Seconds one request may keep retrying a silent server: TUNETRACK_SERVER_WAIT_SECONDS
    (a number > 0), else 60."""
    env = os.environ if environ is None else environ
    try:
        value = float(env.get(WAIT_ENV, "") or DEFAULT_WAIT_S)
    except ValueError:
        return DEFAULT_WAIT_S
    return value if math.isfinite(value) and value > 0 else DEFAULT_WAIT_S


def retry_settings(wait: float) -> dict[str, str]:
    """MLflow's retry variables for a request that gives up after at most ``wait`` seconds
    of backoff.

    urllib3 sleeps 0, 2f, 4f, ... 2^(n-1)f seconds before the retries of a request with
    backoff factor f and n retries: f * (2^n - 2) in all. n is 5 when ``wait`` allows
    (30 s at f=1), fewer for a shorter wait; f, a whole number in MLflow, fills the rest.
    Each attempt also waits at most half of ``wait`` (10 s at least) for an answer.
    """
    retries = 5
    while retries > 1 and 2**retries - 2 > wait:
        retries -= 1
    backoff = max(1, int(wait // (2**retries - 2))) if retries > 1 else 1
    timeout = int(min(120, max(10, wait // 2)))
    return {_RETRIES_ENV: str(retries), _BACKOFF_ENV: str(backoff), _TIMEOUT_ENV: str(timeout)}


def bound_http_waits(environ: MutableMapping[str, str] | None = None) -> None:
    """Set MLflow's HTTP retry variables from ``server_wait`` where they are unset, and
    silence the per-run "View run" lines (os.environ unless ``environ`` is given)."""
    env = os.environ if environ is None else environ
    for key, value in retry_settings(server_wait(env)).items():
        env.setdefault(key, value)
    env.setdefault(_QUIET_ENV, "true")


def translate(err: BaseException, location: str) -> TrackingError | None:
    """The tunetrack error for MLflow's ``err`` on the store at ``location``, or None when
    it is not about reaching, logging in to, or being allowed on the server."""
    status = _http_status(err)
    if status == 401:
        user = os.environ.get(USERNAME_ENV)
        if not user or not os.environ.get(PASSWORD_ENV):
            return TrackingError(
                f"the tracking server {location} asks for a login; set {USERNAME_ENV} and "
                f"{PASSWORD_ENV} to your user's name and password"
            )
        return TrackingError(
            f"the tracking server {location} refused user {user!r} (wrong name or password); "
            f"check {USERNAME_ENV} and {PASSWORD_ENV}, or ask the server's admin to reset it"
        )
    if status == 403:
        user = os.environ.get(USERNAME_ENV) or "this user"
        return TrackingError(
            f"user {user!r} lacks the permission for this at {location} (403); ask the "
            "server's admin to grant it the experiment (README: Team server), or use an "
            "experiment of your own (--experiment NAME)"
        )
    if _unavailable(err):
        return TrackingUnavailable(
            f"the tracking server {location} does not answer "
            f"({_reason(err)}; retried for up to {server_wait():.0f} s, {WAIT_ENV}); start "
            "it or check --tracking-uri / MLFLOW_TRACKING_URI"
        )
    return None


def _http_status(err: BaseException) -> int | None:
    for link in _chain(err):
        code = getattr(link, "error_code", None)
        if code in ("UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED"):
            return 401
        if code == "PERMISSION_DENIED":
            return 403
        response = getattr(link, "response", None)
        status = getattr(response, "status_code", None)
        if status in (401, 403):
            return int(status)
    text = str(err)
    for status in (401, 403):
        if f"error code {status}" in text or f"{status} Client Error" in text:
            return status
    return None


def _unavailable(err: BaseException) -> bool:
    return any(
        type(link).__name__ in _UNAVAILABLE or isinstance(link, ConnectionError | TimeoutError)
        for link in _chain(err)
    )


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and the exceptions it was raised from or during (MLflow re-raises a failed
    request as an MlflowException without ``from``)."""
    seen: list[BaseException] = []
    link: BaseException | None = err
    while link is not None and link not in seen:
        seen.append(link)
        link = link.__cause__ or link.__context__
    return seen


def _reason(err: BaseException) -> str:
    for link in reversed(_chain(err)):
        if type(link).__name__ in _UNAVAILABLE or isinstance(link, ConnectionError):
            text = str(link)
            for hint in ("Connection refused", "timed out", "Name or service not known"):
                if hint in text:
                    return hint.lower()
            return type(link).__name__
    return first_line(err)


class GuardedClient:
    """An ``MlflowClient`` whose calls raise ``translate``'s errors for an unreachable
    server, a refused login or a denied permission; every other error passes unchanged."""

    def __init__(self, client: Any, location: str) -> None:
        self._client = client
        self._location = location

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute
        return _guarded(attribute, self._location)


def _guarded(call: Callable[..., Any], location: str) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except TrackingError:
            raise
        except Exception as err:
            mapped = translate(err, location)
            if mapped is None:
                raise
            raise mapped from None

    return run
