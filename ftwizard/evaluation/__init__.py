"""Evaluation: generate answers on the eval split and score them by what the task means (no heavy imports here)."""
