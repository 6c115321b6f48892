"""Truth and training labels for mass and age: the seismic consensus truth and the label transfer.

- :mod:`bayesxp.labels.seismic_truth`: validity cuts, the merged catalogues, the consensus truth and the dev set.
- :mod:`bayesxp.labels.transfer`: the label-transfer ensemble (APOGEE labels -> joint ln mass, ln age).
- :mod:`bayesxp.labels.seismic_training`: the transfer's seismic training table, its held-out judgement, the labelled library.
"""
