"""Contamination-aware evaluation: a model's accuracy on each benchmark split into the items a decontamination run
found in the training data and the clean ones, with bootstrap intervals and a permutation test (`stats`)."""
