"""The staff console: a page on the venue's LAN for the phone or tablet at the counter, where staff see the
checks the camera asked for, read the ID (card reader, the card held to a camera, typed) and record the
outcome (``edge.idcheck.desk``). Served by the edge agent with the standard library (``server``); staff
accounts and the sign-in throttle in ``staff``; every word the page shows in ``words``."""
