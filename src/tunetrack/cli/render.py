"""What the commands print: the study summary and the selection table."""

from __future__ import annotations

from typing import Any

from tunetrack._core import FINISHED_STATES
from tunetrack.cli.app import out
from tunetrack.storage.uris import DEFAULT_TRACKING_URI


def print_summary(study: Any) -> None:
    best = study.best
    finished = [t for t in study.trials if t.state in FINISHED_STATES]
    failed = f", {study.n_failed} failed" if study.n_failed else ""
    out.print(
        f"best {study.metric} [bold green]{best.metrics[study.metric]:.4f}[/] "
        f"(trial #{best.number}, numbered from 0; {_count(len(finished), 'trial')}{failed})",
        highlight=False,
    )
    others = [f"{m} {best.metrics[m]:.4f}" for m in SIDE_METRICS if m in best.metrics]
    if others and study.metric not in SIDE_METRICS:
        out.print(f"  with {', '.join(others)}", highlight=False)
    budget = study.config["search"]["max_evals"]
    if len(finished) < budget and study.stop_reason in STOP_REASONS:
        out.print(
            f"stopped after {len(finished)} of {budget} trials: {STOP_REASONS[study.stop_reason]}",
            highlight=False,
        )
    params = "  ".join(f"{k}={_short(v)}" for k, v in best.params.items())
    out.print(f"best params: {params}", highlight=False, soft_wrap=True)
    out.print(
        f"study run:   {study.run_id}  (experiment '{study.experiment_name}', "
        f"{study.tracking_uri})",
        highlight=False,
        soft_wrap=True,
    )
    uri_flag = (
        ""
        if study.tracking_uri == DEFAULT_TRACKING_URI
        else (f" --tracking-uri {study.tracking_uri}")
    )
    out.print("look further:", highlight=False)
    for line in (
        f"tunetrack report --study {study.run_id}{uri_flag}    # plots, importance, trade-offs",
        f"tunetrack select --study {study.run_id} --policy smallest-within{uri_flag}",
        f"tunetrack ui{uri_flag}    # MLflow's UI on this store",
    ):
        out.print(f"  {line}", highlight=False, soft_wrap=True)


# Classification scores shown beside the loss in the summary.
SIDE_METRICS = ("auc", "accuracy", "f1")

STOP_REASONS = {
    "timeout": "the time budget (search.timeout) ran out",
    "no_progress_evals": "no new best for search.no_progress_evals trials",
    "loss_threshold": "search.loss_threshold was reached",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


_MAX_TABLE_ROWS = 20


def print_selection(selection: Any) -> None:
    from rich.table import Table

    frame = selection.to_frame()
    shown = frame[frame["within_tolerance"] | frame["pareto"] | frame["chosen"]]
    shown = shown.head(_MAX_TABLE_ROWS)
    table = Table(title=f"policy {selection.policy}, tolerance {100 * selection.tolerance:g}%")
    across = "family" in frame.columns
    names = ["trial", *(["family"] if across else []), selection.metric, "gap %", "fit CPU s"]
    for name in [*names, "model KB", "within", "pareto", ""]:
        left = name in ("", "within", "pareto", "family")
        table.add_column(name, justify="left" if left else "right")
    for row in shown.itertuples(index=False):
        r = row._asdict()
        table.add_row(
            str(r["trial"]),
            *([str(r["family"])] if across else []),
            f"{r[selection.metric]:.4f}",
            f"{r['gap_pct']:.2f}",
            f"{r['fit_cpu_seconds']:.3f}",
            f"{r['model_bytes'] / 1024:.1f}",
            "yes" if r["within_tolerance"] else "no",
            "yes" if r["pareto"] else "no",
            "<- chosen" if r["chosen"] else "",
        )
    out.print(table)
    hidden = len(frame) - len(shown)
    if hidden:
        out.print(f"({hidden} more trial(s) outside the tolerance and off the front)")
    out.print(
        f"chose trial {selection.chosen.number} (run {selection.chosen.run_id}): "
        f"{selection.reason}",
        highlight=False,
        soft_wrap=True,
    )


def print_tested(selection: Any, test_source: Any) -> None:
    """The refit trials beside each other: validation metric, then the test metrics."""
    from rich.table import Table

    metric = selection.metric
    shipped = selection.shipped
    names = sorted({m for s in shipped if s.test for m in s.test.metrics})
    names.sort(key=lambda m: m != metric)  # the study's metric first
    table = Table(title=f"top {len(shipped)} by policy {selection.policy}, refit and tested")
    for name in ["trial", f"valid {metric}", *(f"test {m}" for m in names), ""]:
        table.add_column(name, justify="left" if name == "" else "right")
    for s in shipped:
        tested = s.test.metrics if s.test else {}
        table.add_row(
            str(s.trial.number),
            f"{s.refit_value:.4f}",
            *(f"{tested[m]:.4f}" if m in tested else "-" for m in names),
            "<- chosen" if s.trial.run_id == selection.chosen.run_id else "",
        )
    out.print(table)
    first = next((s.test for s in shipped if s.test), None)
    if first is not None:
        left = f", {first.left_out} left out by the recipe" if first.left_out else ""
        out.print(
            f"test rows: {first.rows} of {first.read} in {first.source}{left}; logged as "
            f"test_<metric> on each model run",
            highlight=False,
            soft_wrap=True,
        )
    by = "the test metric" if selection.by == "test" else "the validation metric (the policy)"
    out.print(
        f"chose trial {selection.chosen.number} by {by}: {selection.reason}",
        highlight=False,
        soft_wrap=True,
    )
    note = (
        "note: the test rows never influenced tuning: the trials were searched and ranked on "
        "the train and validation rows only, and the test rows scored these refits alone"
    )
    if selection.by == "test" and len(shipped) > 1:
        note += (
            f"; picking among {len(shipped)} by test makes the winner's test score slightly "
            "optimistic, so judge it on a later month with `tunetrack evaluate`"
        )
    out.print(note, highlight=False, soft_wrap=True)


def print_promotion(promotion: Any) -> None:
    """Which model holds the alias after ``--only-if-better``, and by how much it won."""
    metric, alias = f"test {promotion.metric}", promotion.alias
    new = f"version {promotion.candidate_version} ({promotion.candidate_value:.6g})"
    if promotion.holder_version is None:
        out.print(
            f"promoted: no model held '{alias}' yet, so it now points at {new}",
            highlight=False,
            soft_wrap=True,
        )
        return
    old = f"version {promotion.holder_version} ({promotion.holder_value:.6g})"
    gap = abs(promotion.difference)
    pct = abs(promotion.percent) if promotion.percent is not None else float("nan")
    if promotion.moved:
        line = f"promoted: {new} beats {old} on {metric} by {gap:.6g} ({pct:.2f}%); '{alias}' moved"
    else:
        line = (
            f"kept: {old} is as good as or better than the candidate {new} on {metric} "
            f"by {gap:.6g} ({pct:.2f}%); '{alias}' stays on version {promotion.holder_version}"
        )
    out.print(line, highlight=False, soft_wrap=True)
