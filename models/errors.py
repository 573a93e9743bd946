"""The one error type for everything that can go wrong with a model file."""


class ModelError(RuntimeError):
    """A model cannot be prepared or loaded; the message says what to run to fix it."""
