"""Storage drivers behind one interface (base.Storage): local directory, S3-compatible."""
