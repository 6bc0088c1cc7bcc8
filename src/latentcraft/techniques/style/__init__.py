"""Style codes: a separate style encoder's coordinates, kept free of class identity, and their read-outs."""
