"""Fairness: discovering the speaker cohorts a recogniser serves worst (and, later, mitigation).

Three cohort-discovery methods share one contract: each *fits a rule on dev speakers* that
assigns any speaker to a cohort (``tree``: by (lat, lon); ``geodemo``: by zip attributes;
``automatic``: by mean speaker embedding), so cohorts are discovered on dev and measured on test.
``discover`` runs them on in-memory speaker tables, which stage 7 reads from decoded cuts and
``audit`` from any recogniser's Kaldi text files and a speaker-metadata CSV.
"""
