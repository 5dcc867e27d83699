#!/bin/sh
# Builds berth for use (target/release/berth and target/release/berth-monitor).
#
# The monitor is linked statically: one runs per container for the container's whole
# life, and without the shared-library mappings its resident set is about a third
# smaller (see docs/benchmarks.md). Only that binary gets crt-static; the main binary
# stays dynamic (it loads libseccomp).
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p berth
cargo rustc --release -p berth --bin berth-monitor -- -C target-feature=+crt-static
