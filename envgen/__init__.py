"""envgen: reproducible TensorFlow-on-Metal conda environments for Apple Silicon."""

__version__ = "0.1.0"
