"""Speaker verification: a compact embedding extractor, ARW training, trials, scoring, metrics.

Later stages use the extractor through two calls::

    from steps.sv import embed_features, load_extractor
    extractor = load_extractor("exp/sv/none/model")
    emb = embed_features(extractor, feats)   # feats: (T, 80) fbank -> (embed_dim,)

and stored embeddings through the cuts of ``extract_embeddings``: ``cut.load_custom("xvector")``.
"""

from .extract import KEY, embed_features, load_extractor

__all__ = ["KEY", "embed_features", "load_extractor"]
