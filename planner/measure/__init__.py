"""Measurements a user brings: benchmark tools' outputs read (`readers`), checked against
the catalog and physics, and written into a user catalog (`record`), for `edgeplan
calibrate`."""
