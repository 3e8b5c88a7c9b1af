"""BIDS derivatives writer: file names, sidecars and atomic writes."""
