"""Step definitions of the example project."""
