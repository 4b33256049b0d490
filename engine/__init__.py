"""gdcluster engine (public API filled in by the core)."""
