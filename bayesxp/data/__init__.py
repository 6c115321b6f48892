"""Data preparation: which stars, their splits, cross-matches, the training set, its summary, the demo extract.

- :mod:`bayesxp.data.selection`: giant and quality cuts, one row per star (the split comes from
  :func:`bayesxp.quantities.split_of`).
- :mod:`bayesxp.data.crossmatch`: the library against the seismic catalogues (source_id, APOGEE_ID, KIC).
- :mod:`bayesxp.data.dataset`: the :class:`~bayesxp.data.dataset.TrainingSet` (spectra, labels, splits), cached.
- :mod:`bayesxp.data.summary`: counts, label distributions and their figure (``bayesxp data build``).
- :mod:`bayesxp.data.demo`: the bundled demo extract and the demo job (``bayesxp demo``).
"""
