"""Report code: turns finished stage outputs into the markdown sections of RESULTS.md."""
