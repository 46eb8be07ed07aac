"""What a space promises about the values it draws, checked before anything is written.

Each numeric leaf of a described space (``describe_space``'s JSON) reaches a range of
values under Hyperopt's definitions: a q-distribution rounds each draw to the nearest
multiple of ``q`` (``round(x / q) * q``), and ``type: int`` truncates toward zero. Both
can step past the declared bounds: ``quniform(1, 20, 4)`` draws 0 and
``qloguniform(0, 3, 5)`` draws 0 below ``exp(0) = 1``. ``check_draws`` refuses such a
leaf in one line and names the bounds that keep every draw inside (the multiples of ``q``
inside the range, which is what the Optuna engine draws too).

A model family declares the parameters it needs as whole numbers (``Whole``: a range,
whether ``None`` is a value it takes, whether a share in (0, 1] is accepted instead);
``check_whole_params`` refuses a leaf, option or constant that could hand such a
parameter a real number, a bool, text, ``None`` it does not take, or a value outside the
family's range. Pure: no Hyperopt, so any engine and the study setup can call it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tunetrack.exceptions import SearchSpaceError
from tunetrack.space.leaves import DISTRIBUTION_KEYS

# Log bounds are written with 6 decimals (space.distributions): exp() of such a bound is
# off by a relative 5e-7 at most, so values are compared with this relative slack.
_SLACK = 1e-6


@dataclass(frozen=True)
class Whole:
    """A parameter a family takes as a whole number in ``[low, high]`` (None: no bound).

    ``none``: None is a value the family takes (the library's default, "no limit");
    ``share``: a real number in (0, 1] is accepted too (scikit-learn's count-or-share
    params such as ``max_samples``); ``words``: text values it takes as well."""

    low: int | None = None
    high: int | None = None
    none: bool = False
    share: bool = False
    words: tuple[str, ...] = ()

    def text(self) -> str:
        if self.low is not None and self.high is not None:
            text = f"a whole number in [{self.low}, {self.high}]"
        elif self.low is not None:
            text = f"a whole number >= {self.low}"
        elif self.high is not None:
            text = f"a whole number <= {self.high}"
        else:
            text = "a whole number"
        return f"{text} or a share in (0, 1]" if self.share else text


@dataclass(frozen=True)
class Reach:
    """What one numeric leaf can draw: ``[low, high]`` (infinite when unbounded),
    ``whole`` when every draw reaches the model as an int; ``bounds`` is the range the
    leaf declares (None for the unbounded normal family)."""

    dist: str
    args: Mapping[str, float]
    low: float
    high: float
    whole: bool
    bounds: tuple[float, float] | None

    def call(self) -> str:
        text = f"{self.dist}({', '.join(_num(v) for v in self.args.values())})"
        if self.whole == _default_whole(self.dist, self.args):
            return text
        return f"{text} with type {'int' if self.whole else 'float'}"


def _num(value: float) -> str:
    # 12 significant digits: 3 * 0.1 reads 0.3, as the user would write it.
    value = float(f"{value:.12g}")
    return str(int(value)) if value.is_integer() else repr(value)


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _default_whole(dist: str, args: Mapping[str, float]) -> bool:
    return dist == "randint" or ("q" in args and float(args["q"]).is_integer())


def reach(node: Mapping[str, Any]) -> Reach:
    """The values a described numeric leaf (``{"quniform": {...}, "type": "int"}``) draws."""
    dist = next(key for key in node if key in DISTRIBUTION_KEYS)
    args = dict(node[dist])
    whole = node.get("type", "int" if _default_whole(dist, args) else "float") == "int"
    if dist == "randint":
        low, high = float(args["low"]), float(args["high"]) - 1
        return Reach(dist, args, low, high, True, (low, high))
    bounds: tuple[float, float] | None
    if dist in ("uniform", "quniform"):
        bounds = (float(args["low"]), float(args["high"]))
    elif dist in ("loguniform", "qloguniform"):
        bounds = (math.exp(args["low"]), math.exp(args["high"]))
    else:
        bounds = None
    low, high = bounds if bounds is not None else (-math.inf, math.inf)
    if dist in ("lognormal", "qlognormal"):
        low = 0.0
    if "q" in args:
        q = float(args["q"])
        # round() to nearest: a draw just inside a bound may round past it. (A tie only
        # happens for a draw exactly at the bound, which has probability zero.)
        low = q * math.floor(low / q + 0.5) if math.isfinite(low) else low
        high = q * math.ceil(high / q - 0.5) if math.isfinite(high) else high
    if whole:
        low = float(math.trunc(low)) if math.isfinite(low) else low
        high = float(math.trunc(high)) if math.isfinite(high) else high
    return Reach(dist, args, low, high, whole, bounds)


def _inside(value: float, low: float, high: float) -> bool:
    return low - _SLACK * max(1.0, abs(low)) <= value <= high + _SLACK * max(1.0, abs(high))


def _aligned(r: Reach) -> str:
    """The same leaf with bounds that keep every draw inside, or a hint when none do."""
    assert r.bounds is not None
    low, high = r.bounds
    q = float(r.args.get("q", 1.0))
    tight = _SLACK * max(1.0, abs(low)), _SLACK * max(1.0, abs(high))
    k_low, k_high = math.ceil(low / q - tight[0]), math.floor(high / q + tight[1])
    if k_low > k_high:
        return f"no multiple of q={_num(q)} lies in [{_show(low)}, {_show(high)}]; widen the range"
    m_low, m_high = k_low * q, k_high * q
    if r.dist.endswith("loguniform"):
        if m_low <= 0:
            return f"no positive multiple of q={_num(q)} lies in the range; widen it"
        # 6 decimals, as space.distributions writes log bounds (within the slack above).
        new = [round(math.log(m_low), 6), round(math.log(m_high), 6)]
        name = "qloguniform"
    else:
        new, name = [m_low, m_high], "quniform"
    return f"use {name}({_num(new[0])}, {_num(new[1])}, {_num(q)}), whose draws stay inside"


def check_draws(described: Mapping[str, Any], path: str = "space") -> None:
    """Raise SearchSpaceError naming the first leaf that can draw outside its own bounds."""
    for _, where, value in place_values(described, path):
        if not isinstance(value, Reach) or value.bounds is None:
            continue
        low, high = value.bounds
        for drawn in (value.low, value.high):
            if _inside(drawn, low, high):
                continue
            why = (
                "each draw is rounded to the nearest multiple of q"
                if "q" in value.args
                else "type int truncates each draw toward zero"
            )
            raise SearchSpaceError(
                f"{where}: {value.call()} can draw {_show(drawn)}, outside its range "
                f"[{_show(low)}, {_show(high)}] ({why}); {_aligned(value)}"
            )


def check_whole_params(
    described: Mapping[str, Any], needs: Mapping[str, Whole], *, family: str, path: str = "space"
) -> None:
    """Raise SearchSpaceError for the first value of a parameter in ``needs`` that the
    family could not take (see the module docstring)."""
    for key, where, value in place_values(described, path):
        need = needs.get(key)
        if need is None:
            continue
        problem = _whole_problem(value, need)
        if problem:
            raise SearchSpaceError(f"{where}: {family} takes {key} as {need.text()}{problem}")


def _whole_problem(value: Any, need: Whole) -> str:
    """'' when every value ``value`` can give suits ``need``, else the rest of the message."""
    if isinstance(value, Reach):
        return _leaf_problem(value, need)
    if value is None:
        return "" if need.none else ", not None; drop the None option"
    if isinstance(value, str) and value in need.words:
        return ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f", not {value!r}; give a whole number"
    if float(value).is_integer() and isinstance(value, numbers.Integral):
        return _range_problem(float(value), float(value), need, repr(value))
    if need.share and 0 < value <= 1:
        return ""
    share = " (or a share in (0, 1])" if need.share else ""
    return f", not {value!r}; write a whole number{share}"


def _leaf_problem(r: Reach, need: Whole) -> str:
    if not r.whole:
        if need.share and r.low > 0 and r.high <= 1:
            return ""
        share = "outside (0, 1] " if need.share else ""
        return f", but {r.call()} draws reals {share}; {_whole_fix(r)}".replace(" ;", ";")
    return _range_problem(r.low, r.high, need, r.call())


def _range_problem(low: float, high: float, need: Whole, what: str) -> str:
    for bound, side in ((low, "below"), (high, "above")):
        if math.isinf(bound) and (need.low if side == "below" else need.high) is not None:
            return f", but {what} is unbounded {side}; use a bounded range (quniform, randint)"
    if need.low is not None and low < need.low:
        return f", but {what} can draw {_num(low)}; keep its range at or above {need.low}"
    if need.high is not None and high > need.high:
        return f", but {what} can draw {_num(high)}; keep its range at or below {need.high}"
    return ""


def _whole_fix(r: Reach) -> str:
    if r.dist in ("uniform", "loguniform", "normal", "lognormal"):
        args = ", ".join(_num(v) for v in r.args.values())
        return f"use q{r.dist}({args}, 1), which draws whole numbers"
    if not float(r.args["q"]).is_integer():
        return "use a whole q such as 1"
    return "drop type: float"


def place_values(
    described: Mapping[str, Any], path: str = "space"
) -> Iterator[tuple[str, str, Any]]:
    """Every (flat key, path, value) a trial's params can take from the space: a
    ``Reach`` for a numeric leaf, the constant otherwise; a choice gives each option, a
    chosen sub-space its own keys (as ``flatten_params`` merges them)."""
    for key, value in described.items():
        yield from _values(str(key), value, f"{path}.{key}")


def _values(key: str, value: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    if not isinstance(value, Mapping):
        yield key, path, value
        return
    dist = next((k for k in value if k in DISTRIBUTION_KEYS), None)
    if dist is None:
        yield from place_values(value, path)
    elif dist in ("choice", "pchoice"):
        options = value[dist] if dist == "choice" else [option for _, option in value[dist]]
        for i, option in enumerate(options):
            yield from _values(key, option, f"{path}.{dist}[{i}]")
    else:
        yield key, path, reach(value)
