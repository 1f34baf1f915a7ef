//! Empty on purpose: the loom models of `conflate` live in `tests/`, built with `--cfg loom`.
