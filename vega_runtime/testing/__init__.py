"""Test servers that stand in for real services."""
