"""rdd layer."""
