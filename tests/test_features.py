from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tunetrack.exceptions import ConfigError
from tunetrack.features import FeatureEncoder

TRAIN = pd.DataFrame(
    {
        "PULocationID": ["1", "2", "2", "3"],
        "DOLocationID": ["5", "5", "6", "7"],
        "trip_distance": [1.0, 0.0, 3.5, 2.0],
    }
)
NEW = pd.DataFrame(
    {
        "PULocationID": ["2", "99", None],
        "DOLocationID": ["6", "5", "5"],
        "trip_distance": [4.0, 0.0, np.nan],
    }
)
COLUMNS = {"categorical": ("PULocationID", "DOLocationID"), "numeric": ("trip_distance",)}


def test_native_uses_training_vocabulary_and_marks_unseen_missing() -> None:
    encoder = FeatureEncoder.fit(TRAIN, encoding="native", **COLUMNS)
    assert encoder.vocabulary["PULocationID"] == ("1", "2", "3")
    x = encoder.transform(NEW)
    assert list(x.columns) == ["PULocationID", "DOLocationID", "trip_distance"]
    assert list(x["PULocationID"].cat.categories) == ["1", "2", "3"]
    assert x["PULocationID"].iloc[0] == "2"
    assert x["PULocationID"].isna().tolist() == [False, True, True]  # unseen and missing
    assert x["trip_distance"].tolist()[:2] == [4.0, 0.0]


def test_onehot_is_the_tutorials_pu_do_cross() -> None:
    encoder = FeatureEncoder.fit(TRAIN, encoding="onehot", **COLUMNS)
    assert encoder.feature_names == [
        "PU_DO=1_5",
        "PU_DO=2_5",
        "PU_DO=2_6",
        "PU_DO=3_7",
        "trip_distance",
    ]
    x = encoder.transform(NEW).toarray()
    assert x.shape == (3, 5)
    assert x[0].tolist() == [0, 0, 1, 0, 4.0]  # "2_6" seen in training
    assert x[1, :4].sum() == 0  # "99_5" unseen: no column lights up, as DictVectorizer does
    assert x[1, 4] == 0.0


def test_json_round_trip_gives_the_same_encoding() -> None:
    for encoding in ("native", "onehot"):
        encoder = FeatureEncoder.fit(TRAIN, encoding=encoding, **COLUMNS)
        again = FeatureEncoder.from_json(encoder.to_json())
        assert again == encoder
        a, b = encoder.transform(NEW), again.transform(NEW)
        if encoding == "native":
            pd.testing.assert_frame_equal(a, b)
        else:
            assert np.array_equal(a.toarray(), b.toarray(), equal_nan=True)


def test_unknown_encoding() -> None:
    with pytest.raises(ConfigError, match=r"features\.encoding"):
        FeatureEncoder.fit(TRAIN, encoding="hashing", **COLUMNS)
