"""Optional dependencies: import one, or say in one line which extra installs it.

Model libraries a user may not want (lightgbm) are extras of the package
(``pip install 'tunetrack[lightgbm]'``); the code that needs one imports it through
``require`` at the point of use, so ``import tunetrack`` works without them.
"""

from __future__ import annotations

import importlib
import types

from tunetrack.exceptions import ConfigError


def require(module: str, *, extra: str, purpose: str) -> types.ModuleType:
    """Import ``module``, or raise ``ConfigError`` naming the extra that installs it.

    ``purpose`` says what needs it, e.g. ``"the lightgbm model"`` or ``"search.algo
    'atpe'"``; the message reads "<purpose> needs <module>: pip install 'tunetrack[<extra>]'".
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        # Only a missing module is the user's to fix by installing; a broken install of
        # it (a missing shared library, say) keeps its own error.
        missing = getattr(err, "name", None)
        if missing is not None and missing.split(".")[0] != module.split(".")[0]:
            raise
        top = module.split(".")[0]
        raise ConfigError(f"{purpose} needs {top}: pip install 'tunetrack[{extra}]'") from err
