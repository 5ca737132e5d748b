"""Sequential movie recommendation on MovieLens as a Gymnasium benchmark."""

__version__ = "0.1.0"
