"""Small CNNs: definitions, training and export (needs torch)."""
