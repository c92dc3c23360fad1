"""Multi-talker recognition support: turns, channel targets, diarization and meeting metrics.

- :mod:`steps.multitalker.turns`: the :class:`Turn` record and interval arithmetic on turns.
- :mod:`steps.multitalker.targets`: channel assignment, ``<sot> ... <eot>`` token targets with
  reference frames, and decoded token streams back to turns.
- :mod:`steps.multitalker.diarization`: clustering of per-turn speaker embeddings, RTTM, DER.
- :mod:`steps.multitalker.metrics`: cpWER, ORC-WER, turn-count accuracy, turn-token latency.
"""
