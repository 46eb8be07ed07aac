"""The study report: pure figure data (``data``), thin drawing (``figures``, ``png``) and
one offline HTML page (``html``), built from the tracking store alone."""

from __future__ import annotations

from pathlib import Path

from tunetrack.study import Study

__all__ = ["FIGURES", "build_report"]

REPORT_FILE = "report.html"
FIGURES = ("history", "importance", "parallel_coordinates", "scatter", "contour", "tradeoffs")


def build_report(study: Study, out_dir: str | Path, *, top_k: int = 50) -> Path:
    """Write ``report.html`` and one PNG per figure into ``out_dir``; returns the HTML path."""
    from tunetrack.report import data, figures, png
    from tunetrack.report import html as page

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ranking = data.importance(study)  # computed once: the bar chart and the contour pairs
    pairs = data.important_pairs(study, ranking=ranking)
    surfaces = [s for s in (data.contour(study, a, b) for a, b in pairs) if s is not None]
    par = data.parallel_coordinates(study, top_k=top_k)
    hist = data.history(study)
    panels = data.scatter(study)
    costs = {cost: data.tradeoff(study, cost) for cost in data.COST_METRICS}
    metric = study.metric

    drawn = {
        "history": (
            "Optimization history",
            figures.history(study),
            "Each trial's metric and the best so far; failed trials (no metric) are marked "
            "with x along the top edge, pruned ones with triangles.",
        ),
        "importance": (
            "Hyperparameter importance",
            figures.importance(study, ranking),
            "Permutation importance (scikit-learn) of a random-forest surrogate fitted on "
            "the completed trials; log-distributed params enter in log10.",
        ),
        "parallel_coordinates": (
            "Parallel coordinates",
            figures.parallel_coordinates(study, top_k=top_k),
            f"The best {par.shown} of {par.total} completed trials; log axes are labelled "
            "in real values, missing params sit on an '(absent)' tick. Drag on an axis to "
            "filter.",
        ),
        "scatter": (
            "Each hyperparameter against the metric",
            figures.scatter(study),
            "Log x axis where the search space is log-distributed.",
        ),
        "contour": (
            "Contours of the most important pairs",
            figures.contour(study, ranking=ranking),
            "The metric interpolated linearly between trials (black dots); blank outside them.",
        ),
        "tradeoffs": (
            "Trade-offs",
            figures.tradeoffs(study),
            "Metric against training time and model size; the red line is the Pareto front "
            "(no other trial is both better and cheaper).",
        ),
    }
    png.history(hist, metric, out / "history.png")
    png.importance(ranking, metric, out / "importance.png")
    png.parallel_coordinates(par, out / "parallel_coordinates.png")
    png.scatter(panels, metric, out / "scatter.png")
    png.contour(surfaces, metric, out / "contour.png")
    png.tradeoffs(costs, metric, out / "tradeoffs.png")
    top = data.top_trials(study, k=20)
    top.to_csv(out / "top_trials.csv", index=False)
    by_family = data.families(study)
    by_family.to_csv(out / "families.csv", index=False)
    path = out / REPORT_FILE
    path.write_text(page.render(study, drawn, top, by_family), encoding="utf-8")
    return path
