"""Framing and message types shared by every process that talks to another."""
