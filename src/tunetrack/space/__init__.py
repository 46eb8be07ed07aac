"""Search spaces: the hp vocabulary users write, its JSON description, and the
engine-neutral form engines read.

- ``spec``: parse YAML/JSON specs and Python ``hp`` spaces, build the pyll space.
- ``describe``: the JSON form stored with a study; the distribution of each label.
- ``leaves``: the flat parameters a trial carries (pure, no Hyperopt).
- ``distributions``: the engine-neutral form (Float, Int, Normal, Categorical).
"""

from tunetrack.space.describe import describe_space, param_kinds
from tunetrack.space.leaves import Leaf, flatten_params, space_leaves
from tunetrack.space.spec import DISTRIBUTIONS, build_space

__all__ = [
    "DISTRIBUTIONS",
    "Leaf",
    "build_space",
    "describe_space",
    "flatten_params",
    "param_kinds",
    "space_leaves",
]
