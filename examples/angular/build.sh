#!/usr/bin/env bash
# Builds the Angular example exactly as CI would: clean install from the lock file, then ng build.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npx ng build
