"""Contamination detection: text normalisation, the pack index, the detection stages and per-row verdicts."""
