#!/usr/bin/env bash
# Installs the Debian 12 packages infergate needs to build and test, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config
      libboost1.81-dev libyaml-cpp-dev libabsl-dev libsimdjson-dev
      libgtest-dev libgmock-dev libbenchmark-dev libnghttp2-dev libssl-dev libre2-dev
      libsystemd-dev systemd lintian
      nghttp2-client openssl
      curl testssl.sh
      nginx-light   # nginx: the TLS backend of tests/integration/tls_backend_test.cc
      libhiredis-dev redis-server  # src/shared/: the Redis client; its integration tests
      prometheus    # promtool: tests/integration/genai_metrics_test.cc lints /metrics with it
      python3-numpy)  # scripts/gguf/: the GGUF test-model generator and reference forward pass
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
