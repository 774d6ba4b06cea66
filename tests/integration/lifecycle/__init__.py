"""Lifecycle integration tests: one package, so its services stop when its tests are done."""
