"""`edgeplan estimate` (filled in by the estimator work)."""
