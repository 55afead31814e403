"""Self-contained HTML reports: ``simulate --report`` and ``conformance --html``.

One file each, charts drawn by plotly with plotly.js inlined, so a report opens offline
(see :mod:`lvatool.html_report.page` for why plotly, and how peer text is escaped).

- :class:`lvatool.html_report.simulate_report.SimulateReport`: a run observer that
  writes the simulate report when the run ends.
- :func:`lvatool.html_report.conformance_report.write_conformance_html`: the verdicts.

Nothing is imported here: plotly takes a while to load, and only a run that writes a
report should pay for it.
"""
