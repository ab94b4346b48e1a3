"""Results: the versioned schema of a run's results, and each test's result as pytest reports it."""
