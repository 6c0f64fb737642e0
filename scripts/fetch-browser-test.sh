#!/usr/bin/env bash
# Installs what the browser test (ctest label `browser`) drives Debian's chromium with:
# puppeteer-core at the exact version of tests/browser/package.json, every dependency pinned with
# its integrity hash in tests/browser/package-lock.json (`npm ci` refuses anything else), into
# third_party/browser-test/ (git-ignored). Chromium itself comes from Debian (setup-deps.sh);
# puppeteer downloads no browser.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/tests/browser"
dest="$root/third_party/browser-test"
stamp=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)

if [ -f "$dest/stamp.sha256" ] && [ "$(cat "$dest/stamp.sha256")" = "$stamp" ] &&
  [ -d "$dest/node_modules/puppeteer-core" ]; then
  exit 0
fi

command -v npm >/dev/null || { echo "uaqf fetch: npm is missing; run scripts/setup-deps.sh" >&2; exit 1; }
rm -rf "$dest.part"
mkdir -p "$dest.part"
cp "$src/package.json" "$src/package-lock.json" "$dest.part/"
echo "uaqf fetch: npm ci puppeteer-core (tests/browser/package-lock.json)" >&2
# No install scripts: puppeteer-core has none it needs, and none may fetch a browser.
(cd "$dest.part" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
echo "$stamp" >"$dest.part/stamp.sha256"
rm -rf "$dest"
mv "$dest.part" "$dest"
echo "uaqf fetch: puppeteer-core in $dest" >&2
