"""The adaptation study's report, from the report JSON that studies.summary writes.

Modules: ``measures`` (figures read from the JSON), ``goals``, ``comparisons`` (the
findings at the headline size), ``findings``, ``markdown``, ``figures`` and ``write``
(``write_study``: JSON, Markdown and figures). The proposed method, the methods it is
compared with (``roles``) and the headline size come from the JSON, never from here.
"""

from studies.report.findings import findings
from studies.report.goals import goals
from studies.report.markdown import markdown
from studies.report.measures import quiet_seconds
from studies.report.write import write_study

__all__ = ["findings", "goals", "markdown", "quiet_seconds", "write_study"]
