"""Data preparation: which stars, their splits, cross-matches, the training set, its summary, the demo extract."""
