"""Research tooling run from a checkout (``python -m studies experiment``): the smoke
experiment (``smoke``, ``plots``) and the resumable adaptation study: its settings and
plan (``config``), state file (``state``), progress (``progress``), run (``runner``),
report JSON (``summary``) and report (the ``report`` package). Nothing imports it."""
