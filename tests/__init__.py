"""The test suite (a package, so that tests/crossplane is imported as tests.crossplane, not as `crossplane`)."""
