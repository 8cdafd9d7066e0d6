"""Losses, one nn.Module per paper: ``dchn``, ``djsrh``, ``hybridhash``."""
