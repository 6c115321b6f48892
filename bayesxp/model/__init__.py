"""The whole model: tokenizer, backbone, foundation, training, the Pyro heads and the Bayesian model tying them.

- :mod:`~bayesxp.model.tokenizer`: spectra and labels <-> tokens (invertible, saved with the weights);
- :mod:`~bayesxp.model.backbone`: the any-to-any transformer (plain torch);
- :mod:`~bayesxp.model.sampling`: which keys are context and which are requested, per training star;
- :mod:`~bayesxp.model.foundation`: tokenizer + backbone, spectrum -> Gaussian label predictions;
- :mod:`~bayesxp.model.train`: training the foundation model (resume, early stopping, DDP);
- :mod:`~bayesxp.model.folder`: the model folder format, and the foundation model's save / ``load_foundation``;
- :mod:`~bayesxp.model.features`: frozen embeddings -> the heads' PCA features;
- :mod:`~bayesxp.model.heads`: the Pyro Bayesian heads, their configs and the model's :data:`HEADS`;
- :mod:`~bayesxp.model.bayesian`: :class:`BayesXPModel` (foundation + heads) and its posteriors, ``load``;
- :mod:`~bayesxp.model.fit_heads`: fitting the heads on a trained foundation model (``bayesxp fit-heads``);
- :mod:`~bayesxp.model.bayesian_folder`: the full model's folder (``save_model`` / ``load_model``).

The backbone is plain torch; only the heads, the Bayesian model and what builds them import Pyro.
"""
