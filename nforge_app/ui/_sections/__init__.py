"""The sections of the page, one module each: ``layout(page)`` and ``events(page)`` (see ``ui/_page.py``).

They are put in place by ``ui/_app.py`` (its ``LEFT``, ``RIGHT`` and ``TABS`` lists).
"""
