"""ID checks at the door: staff check the ID of a person the camera flagged, and the edge keeps the outcome,
never the ID.

What may leave the counter: the outcome, the age in whole years, the document type, whether under 14, and a
keyed hash of the number (HMAC-SHA256 with a per-venue secret that never leaves the venue), so that repeat
visits link within one venue only. The ID image, the full number, the name and the chip's photo are never
stored, logged or sent: the objects here hide them from ``repr``/``str``, refuse to be pickled, and their
errors carry fixed words only (``humiao.edge.idcheck.number.REASONS``), never the number.

- ``number``: the 18-character citizen identity number (GB 11643-1999), ages, the keyed hash, the venue secret;
- ``documents``: the document types (one list) and the birth date entered by hand for the others;
- ``readers``: card reader plug-ins (one list of kinds): a simulator and a serial skeleton;
- ``ocr``: the number read from a photograph of the card held to a camera (RapidOCR, in memory), never guessed.
"""
