"""ftwizard: decide how to fine-tune a model for a narrow task, and do it."""

__version__ = "0.1.0"
