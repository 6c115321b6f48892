"""Testing aids of bayesxp: fault injection, a tiny model, the reliability catalogue, a headless browser.

- :mod:`~bayesxp.testing.faults`: a full disk, ENOSPC in a write or an fsync, an unprivileged user.
- :mod:`~bayesxp.testing.tiny`: a tiny model trained on synthetic stars in seconds (imports torch).
- :mod:`~bayesxp.testing.reliability`: the catalogue of bad inputs and faults run by
  ``benchmarks/reliability.py`` and ``tests/reliability/``.
- :mod:`~bayesxp.testing.browser`: a self-contained HTML page opened in headless chromium (images loaded,
  console errors, a screenshot), for the report of ``bayesxp run``.

Only the fault helpers are imported here; the other modules are imported by name.

Example:
    >>> from bayesxp.testing import full_disk, share, unprivileged
"""

from __future__ import annotations

from bayesxp.testing.faults import enospc_on_fsync, enospc_on_write, full_disk, share, unprivileged

__all__ = ["full_disk", "enospc_on_write", "enospc_on_fsync", "unprivileged", "share"]
