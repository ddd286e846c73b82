"""Cluster daemons: master, worker, executor processes (layer 4)."""
