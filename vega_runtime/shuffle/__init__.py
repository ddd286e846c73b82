"""shuffle layer."""
