"""How the page is put together: sections that share one :class:`Page` (the service and the components).

A section is a small module of ``ui/_sections/`` with two functions, registered in one of the lists of
``ui/_app.py``:

* ``layout(page)`` makes its components inside the gradio block it is given (a column, or its own tab) and
  registers the ones others may need: ``page.add(status=gr.Markdown(...))``;
* ``events(page)`` (optional) wires them, once every section has been laid out, so it may use any
  component by name: ``page["prediction_id"]``, ``page("model", "subject")`` (a list, for inputs/outputs).

To add a tab of analyses (attribution, evaluation, compare, adapt, live...): write ``ui/_sections/<name>.py``
with ``layout(page)`` and ``events(page)`` and add ``Section("<name>", layout, events, title="<Tab title>")``
to ``TABS`` in ``ui/_app.py``. What a tab usually needs:

* ``page["prediction_id"]`` changes whenever the page shows a new prediction (its id, or ``""``): listen
  to its ``.change`` and compute what the tab shows; ``page.service.load(prediction_id)`` gives the
  ``Prediction`` and the facts kept with it (stimulus path, regions asked for, title);
* ``page["model"]``, ``page["subject"]``, ``page["roi"]``: what the user has chosen;
  ``get_card(model_id).capabilities`` says what the model offers (never test model ids);
* ``page.service.engine`` runs anything through the engine (it caches); catch ``UserInputError`` and show
  ``error_markdown(error, "...")`` (``ui/_texts.py``), which escapes the message (``html.escape`` it for
  ``gr.Warning``, whose toast is HTML); ``page.demo`` is the ``gr.Blocks`` (for ``page.demo.load``).
* API names (``api_name=...``) are part of the app's API: name new ones after what they return, and keep
  ``predict`` and ``export`` as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nforge_app.ui._examples import ExampleResults
    from nforge_app.ui._service import AppService


class Page:
    """What every section shares: the service, the examples and the components, by name.

    Parameters
    ----------
    service : AppService
        The page's side of the engine.
    examples : ExampleResults
        The examples, computed in the background.

    Attributes
    ----------
    demo : gr.Blocks
        The page being built (set by ``build_app`` before any section is laid out).
    """

    def __init__(self, service: AppService, examples: ExampleResults) -> None:
        self.service = service
        self.examples = examples
        self.demo = None
        self._components: dict[str, object] = {}

    def add(self, **components) -> None:
        """Register components under their names (a name is registered once)."""
        taken = set(components) & set(self._components)
        if taken:
            raise ValueError(f"components already on the page: {sorted(taken)}")
        self._components.update(components)

    def __getitem__(self, name: str):
        return self._components[name]

    def __call__(self, *names: str) -> list:
        """The components called ``names``, in order (for an event's inputs or outputs)."""
        return [self._components[name] for name in names]


@dataclass(frozen=True)
class Section:
    """A part of the page: ``layout(page)`` makes its components, ``events(page)`` wires them afterwards.

    ``title`` names the tab of a section listed in ``TABS`` (``ui/_app.py``).
    """

    name: str
    layout: Callable[[Page], None] | None = None
    events: Callable[[Page], None] | None = None
    title: str = ""
