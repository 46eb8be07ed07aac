from __future__ import annotations

from pathlib import Path

import pytest

from tunetrack.config import (
    StudyConfig,
    apply_overrides,
    build_config,
    load_config,
    load_yaml,
    valid_keys,
)
from tunetrack.exceptions import ConfigError
from tunetrack.preparation import check_config, default_space_spec

EXAMPLE = Path(__file__).parents[1] / "examples" / "nyc-taxi.yaml"


def test_example_states_the_tutorial_study() -> None:
    config = load_config(EXAMPLE)
    assert config.model.num_boost_round == 1000
    assert config.model.early_stopping_rounds == 50
    assert config.search.max_evals == 50
    assert config.search.algo == "tpe"
    assert config.search.seed == 42
    assert config.space["max_depth"] == "quniform(6, 12, 1)"
    assert config.space["objective"] == "reg:squarederror"


def test_defaults_equal_the_example() -> None:
    from tunetrack.models import Task, get_model
    from tunetrack.space import describe_space

    default, example = build_config({}), load_config(EXAMPLE)
    assert default.model == example.model
    assert default.search == example.search
    default_space = get_model("xgboost").default_space(Task())
    assert describe_space(default_space) == describe_space(example.space)


def test_overrides_reach_nested_keys_and_parse_yaml_scalars() -> None:
    config = load_config(
        EXAMPLE,
        [
            "model.num_boost_round=50",
            "search.timeout=2.5",
            "model.params.nthread=1",
            "space.max_depth=quniform(2, 8, 1)",
        ],
    )
    assert config.model.num_boost_round == 50
    assert config.search.timeout == 2.5
    assert config.model.params == {"nthread": 1}
    assert config.space["max_depth"] == "quniform(2, 8, 1)"
    assert config.space["learning_rate"] == "loguniform(-2.995732, -1.203973)"  # the rest stays


def test_space_override_without_config_edits_the_default_space() -> None:
    raw = apply_overrides(
        {}, ["space.max_depth=quniform(2, 8, 1)"], default_space=default_space_spec
    )
    assert raw["space"]["max_depth"] == "quniform(2, 8, 1)"
    # The rest of the default space stays: learning rate 0.05 .. 0.3 on a log scale.
    assert raw["space"]["learning_rate"] == {
        "loguniform": {"low": -2.995732, "high": -1.203973},
        "type": "float",
    }


def test_space_override_edits_the_default_space_of_the_encoding_in_any_order() -> None:
    for overrides in (
        ["features.encoding=onehot", "space.max_depth=quniform(2, 8, 1)"],
        ["space.max_depth=quniform(2, 8, 1)", "features.encoding=onehot"],
    ):
        raw = apply_overrides({}, overrides, default_space=default_space_spec)
        assert raw["space"]["learning_rate"] == {"loguniform": [-3, 0]}  # the tutorial's


def test_space_override_edits_the_space_of_the_model_and_space_given_as_arguments() -> None:
    from tunetrack.models import Task, get_model
    from tunetrack.study import resolve_config

    lightgbm = resolve_config(
        None, overrides=["space.learning_rate=uniform(0.1, 0.2)"], model="lightgbm"
    )
    assert lightgbm.model.name == "lightgbm"
    assert set(lightgbm.space) == set(get_model("lightgbm").default_space(Task()))
    assert lightgbm.space["learning_rate"] == "uniform(0.1, 0.2)"
    given = resolve_config(
        None, overrides=["space.max_depth=quniform(2, 4, 1)"], space={"eta": "uniform(0.1, 0.3)"}
    )
    assert given.space == {"eta": "uniform(0.1, 0.3)", "max_depth": "quniform(2, 4, 1)"}


def test_pruning_defaults_to_median_and_takes_none() -> None:
    assert build_config({}).search.pruning == "median"
    assert load_config(None, ["search.pruning=none"]).search.pruning == "none"


def test_config_is_frozen() -> None:
    config = build_config({})
    with pytest.raises(AttributeError):
        config.search.max_evals = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"search": {"max_eval": 3}}, ["unknown config key 'search.max_eval'", "max_evals"]),
        ({"serch": {}}, ["unknown config section 'serch'", "search"]),
        ({"search": {"max_evals": 0}}, ["search.max_evals", "at least 1"]),
        ({"search": {"max_evals": "ten"}}, ["search.max_evals", "integer"]),
        ({"search": {"max_evals": True}}, ["search.max_evals", "integer"]),
        ({"search": {"timeout": -1}}, ["search.timeout", "positive"]),
        ({"search": {"algo": "bayes"}}, ["search.algo", "tpe"]),
        ({"model": {"name": "catboost"}}, ["model.name", "xgboost"]),
        ({"model": {"name": "xgboost,catboost"}}, ["unknown model.name 'catboost'"]),
        ({"model": {"name": " , "}}, ["model.name must name a model family"]),
        (
            {"model": {"name": "xgboost,lightgbm", "params": {"nthread": 1}}},
            ["model.params fixes one family's settings"],
        ),
        ({"search": {"metric": "auc"}}, ["unknown search.metric 'auc'", "log_loss"]),
        ({"model": {"num_boost_round": 0}}, ["model.num_boost_round"]),
        ({"features": {"encoding": "hash"}}, ["features.encoding", "onehot"]),
        ({"data": {"recipe": "flights"}}, ["data.recipe", "nyc-taxi"]),
        ({"search": [1, 2]}, ["search must be a mapping"]),
        ({"space": "uniform(0, 1)"}, ["space must be a mapping"]),
    ],
)
def test_bad_config_names_the_key_and_the_fix(raw: dict, words: list[str]) -> None:
    # build_config checks the shape; check_config the names only the registries know.
    with pytest.raises(ConfigError) as info:
        check_config(build_config(raw))
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_bad_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("search:\n  max_evals: [1,\n")
    with pytest.raises(ConfigError, match=r"line \d+"):
        load_yaml(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        apply_overrides({}, ["search.max_evals"])


def test_to_dict_is_plain_and_rebuilds() -> None:
    from tunetrack.space import describe_space

    config = load_config(EXAMPLE)
    again = build_config(config.to_dict(describe_space))
    assert isinstance(again, StudyConfig)
    assert again.model == config.model
    assert again.search == config.search


def test_valid_keys_lists_every_section() -> None:
    keys = valid_keys()
    assert "search.max_evals" in keys
    assert "model.early_stopping_rounds" in keys
    assert "space.<param>" in keys


def test_shape_and_registry_checks_are_separate() -> None:
    """build_config takes any family, recipe or metric name; check_config rejects it."""
    config = build_config(
        {"model": {"name": "catboost"}, "data": {"recipe": "flights"}, "search": {"metric": "x"}}
    )
    assert config.model.name == "catboost"
    with pytest.raises(ConfigError, match=r"unknown model\.name 'catboost'"):
        check_config(config)
    check_config(build_config({}))


def test_to_dict_takes_the_space_describer() -> None:
    from tunetrack.space import describe_space

    config = load_config(EXAMPLE)
    assert config.to_dict(describe_space)["space"] == describe_space(config.space)
    assert build_config({}).to_dict(describe_space)["space"] is None


def test_model_names_expand_all_and_drop_repeats() -> None:
    from tunetrack.preparation import model_names

    assert model_names("all") == ("xgboost", "lightgbm", "random_forest", "linear")
    assert model_names("xgboost, linear,xgboost") == ("xgboost", "linear")
