"""NForge: predict and look at human brain responses to video, audio and text.

The public surface is small: :class:`Engine` runs the whole flow (stimulus -> features -> model ->
prediction), :class:`Prediction` is what comes out, and :mod:`nforge_app.api` offers the BERG-style
functions (``get_encoding_model``, ``encode``, ``get_model_metadata``).
"""

from nforge_app._version import __version__
from nforge_app.errors import ModelUnavailableError, UserInputError

__all__ = ["Engine", "Prediction", "UserInputError", "ModelUnavailableError", "__version__"]


def __getattr__(name: str):
    # Lazy so that `import nforge_app` stays cheap (no torch, no nilearn) for the CLI and the UI.
    if name == "Engine":
        from nforge_app.engine import Engine

        return Engine
    if name == "Prediction":
        from nforge_app.models import Prediction

        return Prediction
    raise AttributeError(f"module 'nforge_app' has no attribute {name!r}")
