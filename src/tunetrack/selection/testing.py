"""Judge candidates on a test table: ``select --test PATH [--top-k K] [--by validation|test]``.

The K trials the policy ranks first are refit once each (``shipping.ship``), and each
refit scores the test rows through the study's own recipe and encoder; the test metrics
are logged on its model run (``test_rmse``, ...). ``by="validation"`` keeps the policy's
pick; ``by="test"`` takes the refit with the lowest test metric. Then the pick can be
registered, and with ``only_if_better`` the alias moves only when the pick beats the
model the alias points at now, both scored on the same test rows in the same call.

The test rows never reach the search: the trials were tuned and ranked on the train and
validation rows before this runs. Every argument, the test table and the current alias
holder are checked before the first model run is written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from tunetrack.data.loaders import Table
from tunetrack.exceptions import ConfigError, DataError
from tunetrack.selection import registry
from tunetrack.selection.evaluation import (
    Evaluation,
    TableLike,
    evaluate_predictor,
    labelled_rows,
    read_test_table,
)
from tunetrack.selection.policies import DEFAULT_TOLERANCE, Selection, choose
from tunetrack.selection.shipping import Shipped, refit_data, register_shipped, ship
from tunetrack.study import Study

BY = ("validation", "test")


@dataclass(frozen=True)
class Promotion:
    """How ``only_if_better`` decided: the candidate's and the alias holder's ``metric``
    on the same test rows (the holder's None when the alias pointed nowhere)."""

    name: str
    alias: str
    metric: str
    candidate_version: str
    candidate_value: float
    holder_version: str | None
    holder_value: float | None
    moved: bool

    @property
    def difference(self) -> float | None:
        """How much lower (better) the candidate's metric is; negative when it is worse."""
        if self.holder_value is None:
            return None
        return self.holder_value - self.candidate_value

    @property
    def percent(self) -> float | None:
        """``difference`` as a share of the holder's metric, in percent."""
        if self.difference is None or not self.holder_value:
            return None
        return 100 * self.difference / abs(self.holder_value)


def check_arguments(
    *,
    test: object,
    top_k: int,
    by: str,
    register: str | None,
    alias: str | None,
    only_if_better: bool,
    named: bool,
) -> None:
    """One-line ConfigErrors for flags that do not fit together; nothing is read."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"--top-k must be a whole number >= 1 (trials to refit); got {top_k!r}")
    if by not in BY:
        raise ConfigError(f"unknown --by {by!r}; choose one of: {', '.join(BY)}")
    if test is None:
        for given, flag in (
            (by == "test", "--by test"),
            (top_k > 1, f"--top-k {top_k}"),
            (only_if_better, "--only-if-better"),
        ):
            if given:
                raise ConfigError(
                    f"{flag} scores the refit trials on test rows; add --test PATH with rows "
                    "the study never saw (e.g. the next month)"
                )
    if only_if_better and not (register and alias):
        raise ConfigError(
            "--only-if-better compares the pick with the model an alias points at; add "
            "--register NAME --alias ALIAS"
        )
    if named and top_k > 1:
        raise ConfigError(
            f"--trial/--run-id name one trial, and --top-k {top_k} asks for the policy's "
            "best few; pass one of them"
        )


def select(
    study: Study,
    policy: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    trial: int | None = None,
    run_id: str | None = None,
    test: TableLike | None = None,
    top_k: int = 1,
    by: str = "validation",
    register: str | None = None,
    alias: str | None = None,
    only_if_better: bool = False,
    train: TableLike | None = None,
    valid: TableLike | None = None,
    autolog: bool = False,
) -> Selection:
    """Choose a trial by ``policy`` (see ``choose``); with ``test`` (a path, URL or
    DataFrame holding rows the study never saw), also refit the policy's ``top_k`` first
    trials, score each on the test rows and pick by ``by`` (``validation`` or ``test``),
    then register the pick as ``register`` and point ``alias`` at it; with
    ``only_if_better``, only if its test metric is lower than the current alias
    holder's (see the module docstring).

    Without ``test`` nothing is refit and nothing written (the policy's choice alone).
    Returns the Selection: ``chosen`` is the pick, ``test_metrics`` each refit's metrics
    on the test rows by trial run id, ``shipped`` the refit models, ``promotion`` the
    alias decision. Raises ConfigError/DataError/ModelError (nothing written) for bad
    arguments, a test table the study's recipe cannot score, or the study's own data
    passed as the test table.
    """
    check_arguments(
        test=test,
        top_k=top_k,
        by=by,
        register=register,
        alias=alias,
        only_if_better=only_if_better,
        named=trial is not None or run_id is not None,
    )
    if alias and not register:
        raise ConfigError("--alias needs --register NAME: an alias names a registered model")
    selection = choose(study, policy, tolerance, trial=trial, run_id=run_id)
    if test is None:
        return selection
    # Everything that can fail on bad input, before the first model run is written.
    table = read_test_table(test)
    data = refit_data(study, train, valid)
    for role in ("train", "valid"):
        if table.digest == data.run_params.get(f"data.{role}_sha256"):
            name = "training" if role == "train" else "validation"
            raise DataError(
                f"the test table {table.source} is the study's {name} data (same sha256); "
                "test rows must be rows no trial saw: pass a later month or held-out rows"
            )
    labelled_rows(data.prepared.recipe, data.prepared.task, table)
    holder = (
        _holder(study, register, alias, table) if register and alias and only_if_better else None
    )

    ranked = selection.ranked()[:top_k]
    shipped = [
        ship(study, c.trial, autolog=autolog, policy=selection.policy, test=table, data=data)
        for c in ranked
    ]
    metric = study.metric
    if by == "test":
        pick = min(range(len(shipped)), key=lambda i: (_test_value(shipped[i], metric), i))
        reason = (
            f"lowest test {metric} of the {len(shipped)} refit trial(s), ranked first by "
            f"the {selection.policy} policy"
        )
    else:
        pick = 0
        reason = selection.reason
    chosen = shipped[pick]
    promotion = None
    if register:
        moved_alias = alias
        if holder is not None:
            holder_eval = holder[1]
            better = _beats(_test_value(chosen, metric), holder_eval.metrics[metric])
            moved_alias = alias if better else None
        registered = register_shipped(
            study, chosen, register, alias=moved_alias, policy=selection.policy
        )
        if only_if_better:
            assert alias is not None
            promotion = Promotion(
                name=register,
                alias=alias,
                metric=metric,
                candidate_version=str(registered.version),
                candidate_value=_test_value(chosen, metric),
                holder_version=holder[0] if holder else None,
                holder_value=holder[1].metrics[metric] if holder else None,
                moved=moved_alias is not None,
            )
        shipped[pick] = chosen = registered
    return dataclasses.replace(
        selection,
        chosen=chosen.trial,
        reason=reason,
        test_metrics={s.trial.run_id: dict(s.test.metrics) for s in shipped if s.test},
        by=by,
        shipped=tuple(shipped),
        promotion=promotion,
    )


# A model read back from the store may score a few ulps away from the same model in
# memory (saved floats, another prediction path), so a gap this small is a tie.
TIE_RELATIVE_TOLERANCE = 1e-9


def _beats(candidate: float, holder: float) -> bool:
    """Whether ``candidate`` is lower than ``holder`` by more than a rounding gap."""
    return candidate < holder and not math.isclose(
        candidate, holder, rel_tol=TIE_RELATIVE_TOLERANCE
    )


def _test_value(shipped: Shipped, metric: str) -> float:
    value = shipped.test.metrics.get(metric) if shipped.test else None
    return math.inf if value is None or math.isnan(value) else value


def _holder(study: Study, name: str, alias: str, table: Table) -> tuple[str, Evaluation] | None:
    """The version ``name@alias`` points at and its metrics on the test rows; None when
    the alias points nowhere yet. ConfigError when it cannot be compared with the study."""
    version = registry.previous_version(study.tracking_uri, name, alias)
    if version is None:
        return None
    uri = f"models:/{name}@{alias}"
    predictor = registry.load_predictor(uri, study.tracking_uri)
    evaluation = evaluate_predictor(predictor, table)
    if study.metric not in evaluation.metrics:
        raise ConfigError(
            f"{uri} (version {version}) is a {predictor.task.kind} model without "
            f"{study.metric}, so it cannot be compared with study {study.run_id}; "
            "pass another --alias or drop --only-if-better"
        )
    return version, evaluation
