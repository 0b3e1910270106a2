#!/usr/bin/env bash
# The whole test suite: formatting, lints, the core build without optional features, and every test
# (unit, integration, sqllogictest, Kafka on librdkafka's mock cluster and on a Tansu broker, the model-file
# reproduction in Python). Installs what the tests need into a cache outside the repository
# (${AEFLOW_CACHE:-$HOME/.cache/aeflow}): a Python venv with numpy + safetensors, and the Tansu broker.
# Every service it starts listens on loopback only and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

export AEFLOW_CACHE="${AEFLOW_CACHE:-$HOME/.cache/aeflow}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AEFLOW_CACHE/target}"
export AEFLOW_TOOLS="${AEFLOW_TOOLS:-$AEFLOW_CACHE}"
mkdir -p "$AEFLOW_CACHE"

step() { printf '\n== %s\n' "$*"; }

step "python venv for the model-format reproduction test"
venv="$AEFLOW_CACHE/pyvenv"
if ! "$venv/bin/python" -c 'import numpy, safetensors' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check numpy safetensors
fi
export AEFLOW_PYTHON="$venv/bin/python"

step "headless Chromium for the report rendering test"
if ! command -v "${AEFLOW_CHROMIUM:-chromium}" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    sudo sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium' >/dev/null
  fi
fi
export AEFLOW_CHROMIUM="${AEFLOW_CHROMIUM:-chromium}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets --all-features -- -D warnings"
cargo clippy --all-targets --all-features -- -D warnings

step "the core builds without optional features"
cargo check --lib --no-default-features

step "build tests"
cargo test --no-run

if [ -x scripts/tansu.sh ]; then
  step "Tansu broker (separate process, loopback)"
  scripts/tansu.sh install
  port="${AEFLOW_TANSU_PORT:-19092}"
  scripts/tansu.sh start "$port"
  trap 'scripts/tansu.sh stop || true' EXIT
  export AEFLOW_TANSU_BROKERS="127.0.0.1:$port"
fi

step "cargo test"
cargo test

step "examples (one per surface)"
for example in batch sql stream; do
  cargo run --quiet --example "$example"
done

step "optional features: Ballista (scheduler + two executors on loopback) and Polars"
cargo test --features ballista,polars --test ballista --test polars --example polars
cargo test --features ballista,polars --doc polars
cargo run --quiet --features ballista,polars --example polars
