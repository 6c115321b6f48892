"""The foundation model: tokenizer, any-to-any transformer backbone, training, and the model folder.

The backbone is plain torch; only :mod:`bayesxp.model.heads` imports Pyro.
"""
