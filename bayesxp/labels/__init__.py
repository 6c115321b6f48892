"""Training labels for mass and age: the label-transfer model and the catalogues it learns from."""
