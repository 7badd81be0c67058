#!/usr/bin/env bash
# Installs Debian's Chromium for the headless-browser check of the HTML
# report (tests/e2e/outputs.rs), when it is missing and apt can install it.
# Without it that check is skipped (the test says so); nothing else needs it.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the HTML report check..."
  if ! apt-get install -y -q chromium >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1 \
      || echo "could not install chromium: the headless-browser check will be skipped"
  fi
else
  echo "chromium not found: the headless-browser check of the HTML report will be skipped"
fi
exit 0
