"""Venue law as data (``statutes``), the statutory-holiday calendar (``calendar``) and the decision
from an alert and what followed it to no violation / suspected / confirmed (``violations``).
Source: ../shared/RULES.md; items it marks ◦ (interpretation) are settings here."""
