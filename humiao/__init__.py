"""Humiao (护苗): shared command line and configuration loading."""

__version__ = "0.1.0"
