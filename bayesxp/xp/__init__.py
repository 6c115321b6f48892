"""XP spectral maths: the Hermite basis, continuous coefficients -> sampled flux, and the MAP projection back;
and every input read into sampled spectra on the common 336-1020 nm grid.

- :mod:`bayesxp.xp.basis`: GaiaXPy's DR3 design matrices on the 343-point grid and the BP/RP merge weights.
- :mod:`bayesxp.xp.continuous`: continuous spectra with full covariances, checked and sampled onto the grid.
- :mod:`bayesxp.xp.read`: any XP file a user brings (continuous, sampled, Avro) read into sampled spectra.
- :mod:`bayesxp.xp.inputs`: what a user hands the model (arrays, tables, DataFrames, paths) as sampled spectra,
  and the photometric labels their columns carry.
- :mod:`bayesxp.xp.projection`: sampled spectra projected back onto the 2 x 55 coefficients (MAP, with a prior).
"""
