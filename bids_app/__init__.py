"""ssl-ieeg: encoding models of iEEG high-gamma from self-supervised speech and language models."""

__version__ = "0.1.0"
