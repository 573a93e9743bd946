"""The hub's message catalogues, one folder per language (hub/messages.py reads them)."""
