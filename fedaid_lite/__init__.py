"""fedaid-lite: a notebook-first teaching toolkit for federated medical vision-language pre-training (FedAID)."""

__version__ = "0.1.0"

