"""dskata: distributed-systems interview exercises with hidden graders.

Layout of the package:

- ``cli``          the command line (parses and prints, delegates everything)
- ``catalog``      finds exercises and reads their ``exercise.toml``
- ``workspace``    writes a candidate workspace from ``exercises/<slug>``
- ``staging``      turns a submission (folder, archive, module file) into a scratch copy
- ``sandbox``      runs the candidate's module in a child process behind a JSON-lines shim
- ``drivers``      kit code that runs *inside* the child, next to the candidate's module
- ``grading``      the pytest plugin and runner that execute ``graders/<slug>``
- ``scoring``      points by dimension and scorecard levels from a rubric
- ``report``       report.json (with its JSON Schema), report.md, report.html, terminal summary
- ``verify``       the kill matrix: reference full marks, stub zero, every mutant caught
"""

from __future__ import annotations

__version__ = "0.1.0"
