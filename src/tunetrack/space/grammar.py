"""The hp vocabulary's grammar, without Hyperopt: distribution names and arguments,
the call form (``"quniform(4, 100, 1)"``) parsed with literals only, and the checks of
bounds and keys, each failing with a one-line SearchSpaceError that names the fix."""

from __future__ import annotations

import ast
import difflib
import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from tunetrack.exceptions import SearchSpaceError
from tunetrack.space.leaves import plain_value as _plain

DISTRIBUTIONS: tuple[str, ...] = (
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
    "randint",
    "choice",
    "pchoice",
)

# Argument names in Hyperopt's positional order (pyll's samplers take them positionally).
_ARGS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "loguniform": ("low", "high"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
    "randint": ("low", "high"),
}
_Q_DISTS = frozenset(name for name, args in _ARGS.items() if "q" in args)
_TYPES = ("int", "float")
_EXAMPLES = {
    "uniform": "uniform(0, 1)",
    "quniform": "quniform(4, 100, 1)",
    "loguniform": "loguniform(-3, 0)",
    "qloguniform": "qloguniform(0, 5, 1)",
    "normal": "normal(0, 1)",
    "qnormal": "qnormal(10, 2, 1)",
    "lognormal": "lognormal(0, 1)",
    "qlognormal": "qlognormal(2, 0.5, 1)",
    "randint": "randint(2, 10)",
    "choice": "choice(['gbtree', 'dart'])",
    "pchoice": "pchoice([(0.3, 'a'), (0.7, 'b')])",
}
_CALL_START = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_PCHOICE_TOLERANCE = 1e-6


def _error(path: str, message: str) -> SearchSpaceError:
    # The CLI prints errors as one line, so never let a newline through.
    return SearchSpaceError(f"{path}: {message}".replace("\r", " ").replace("\n", " "))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _valid_names() -> str:
    return ", ".join(DISTRIBUTIONS)


def _unknown_distribution(path: str, name: str) -> SearchSpaceError:
    close = difflib.get_close_matches(name.lower(), DISTRIBUTIONS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return _error(path, f"unknown distribution {name!r}; {hint}valid names: {_valid_names()}")


# ---------------------------------------------------------------------------------------------
# Plain values


def _is_json_like(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, numbers.Real, np.bool_)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json_like(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json_like(v) for k, v in value.items())
    return False


def _number(value: Any, path: str, dist: str, arg: str) -> int | float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        hint = "write a plain number"
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                pass
            else:
                # PyYAML reads 1e-3 (no dot) as text, which is the usual way to get here.
                hint = "write it unquoted, with a dot for exponents (1.0e-3, not 1e-3)"
        kind = type(value).__name__
        raise _error(
            path, f"{dist} argument {arg} must be a number, got {_short(value)} ({kind}); {hint}"
        )
    value = _plain(value)
    if not math.isfinite(value):
        raise _error(
            path, f"{dist} argument {arg} must be finite, got {value}; use a finite number"
        )
    return value


def _is_whole(value: Any) -> bool:
    try:
        return float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        return False


# ---------------------------------------------------------------------------------------------
# Spec parsing


def _parse_call(text: str, path: str) -> tuple[str, list[Any], dict[str, Any]] | None:
    """``"quniform(4, 100, 1)"`` -> ``("quniform", [4, 100, 1], {})``; None for a constant."""
    match = _CALL_START.match(text)
    if match is None:
        return None
    name = match.group(1)
    known = name in DISTRIBUTIONS
    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            raise ValueError("not a single call")
        # literal_eval per argument node: literals only, nothing is ever executed.
        args = [ast.literal_eval(node) for node in call.args]
        kwargs: dict[str, Any] = {}
        for keyword in call.keywords:
            if keyword.arg is None:
                raise ValueError("**kwargs")
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        if known:
            hint = f"arguments must be literals, e.g. {_EXAMPLES[name]}"
            if text.count("(") != text.count(")"):
                # In YAML flow style ({...} / [...]) an unquoted comma cuts the string short.
                hint += "; inside YAML {...} or [...] put the call in quotes"
            raise _error(path, f"cannot parse {_short(text)}; {hint}") from None
        # An unknown name with non-literal arguments is just text (a constant).
        return None
    if not known:
        raise _unknown_distribution(path, name)
    return name, args, kwargs


def _bind(
    dist: str, positional: list[Any], named: dict[str, Any], path: str
) -> dict[str, int | float]:
    names = _ARGS[dist]
    signature = f"{dist}({', '.join(names)})"
    if dist == "randint" and len(positional) == 1 and not {"low", "high"} & named.keys():
        # randint(upper) is Hyperopt's one-argument form: draws 0 .. upper-1.
        positional = [0, *positional]
    if len(positional) > len(names):
        raise _error(
            path,
            f"{dist} takes {len(names)} arguments {signature}, got {len(positional)}; "
            f"e.g. {_EXAMPLES[dist]}",
        )
    bound = dict(zip(names, positional, strict=False))
    for key, value in named.items():
        if not isinstance(key, str) or key not in names:
            raise _error(
                path,
                f"unknown argument {_short(key)} for {dist}; expected {', '.join(names)}",
            )
        if key in bound:
            raise _error(path, f"{dist} argument {key} is given twice; give it once")
        bound[key] = value
    if dist == "randint":
        bound.setdefault("low", 0)
    missing = [name for name in names if name not in bound]
    if missing:
        if named:
            detail = f"missing argument {', '.join(missing)}"
        else:
            detail = f"{dist} takes {len(names)} arguments {signature}, got {len(positional)}"
        raise _error(path, f"{detail}; e.g. {_EXAMPLES[dist]}")
    return {name: _number(bound[name], path, dist, name) for name in names}


_LOG_LIMIT = 700  # exp(700) ~ 1e304: the last round exponent below the float limit


def _check_bounds(dist: str, args: dict[str, int | float], path: str) -> None:
    if dist == "randint":
        for name in ("low", "high"):
            if not _is_whole(args[name]):
                raise _error(
                    path, f"randint {name} must be a whole number, got {args[name]}; use integers"
                )
            args[name] = int(args[name])
        if args["low"] >= args["high"]:
            raise _error(
                path,
                f"randint needs low < high, got low={args['low']}, high={args['high']}; "
                f"the upper bound is exclusive, e.g. randint(2, 10) draws 2..9",
            )
        return
    if "low" in args and args["low"] >= args["high"]:
        raise _error(
            path,
            f"{dist} needs low < high, got low={args['low']}, high={args['high']}; "
            "swap or fix the bounds",
        )
    if "sigma" in args and args["sigma"] <= 0:
        raise _error(
            path, f"{dist} needs sigma > 0, got sigma={args['sigma']}; use a positive spread"
        )
    if "q" in args and args["q"] <= 0:
        raise _error(path, f"{dist} needs q > 0, got q={args['q']}; use a positive step such as 1")
    if dist in ("loguniform", "qloguniform") and not (
        args["low"] >= -_LOG_LIMIT and args["high"] <= _LOG_LIMIT
    ):
        # The bounds are logarithms: exp() of them must be a finite, non-zero float.
        raise _error(
            path,
            f"{dist} takes the logarithms of its bounds, so low={args['low']}, "
            f"high={args['high']} give values beyond floating point; keep both within "
            f"+-{_LOG_LIMIT} (e.g. loguniform(-7, 0) spans 0.0009..1)",
        )


def _check_keys(obj: Mapping[Any, Any], path: str) -> None:
    for key in obj:
        if not isinstance(key, str):
            raise _error(
                path,
                f"key {_short(key)} ({type(key).__name__}) is not a string; quote it "
                "(YAML reads yes/no/on/off and numbers as non-strings)",
            )
        if not key:
            raise _error(path, "empty parameter name; give the parameter a name")


def _reject_near_miss(obj: Mapping[str, Any], path: str) -> None:
    # {unifrom: [0, 1]} would otherwise silently become a sub-space holding a list.
    keys = [key for key in obj if key != "type"]
    if len(keys) != 1 or not isinstance(obj[keys[0]], (list, tuple, Mapping)):
        return
    if difflib.get_close_matches(keys[0].lower(), DISTRIBUTIONS, n=1, cutoff=0.8):
        raise _unknown_distribution(path, keys[0])
