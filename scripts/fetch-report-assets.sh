#!/usr/bin/env bash
# Puts the chart library of the HTML report into third_party/report-assets/ (git-ignored), from
# which the build inlines it into the uaqf binary. Source: the npm tarballs pinned in
# third_party/report-assets.lock; each tarball is cached (UAQF_CACHE_DIR, default ~/.cache/uaqf)
# and checked against its pinned sha256 before a file is extracted from it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lock="$root/third_party/report-assets.lock"
dest="$root/third_party/report-assets"
cache="${UAQF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uaqf}"
lock_sha=$(sha256sum "$lock" | cut -d' ' -f1)

# Up to date when the folder was made from this very lock file.
if [ -f "$dest/lock.sha256" ] && [ "$(cat "$dest/lock.sha256")" = "$lock_sha" ]; then
  exit 0
fi

source "$root/scripts/lib/npm-pack.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"
while read -r name version want_sha file license; do
  case "$name" in '' | '#'*) continue ;; esac
  tarball=$(npm_pack_verified "$name" "$version" "$want_sha" "$cache")
  mkdir -p "$work/$name"
  tar -xzf "$tarball" -C "$work/$name" "$file" "$license"
  cp "$work/$name/$file" "$work/out/$name.js"
  cp "$work/$name/$license" "$work/out/$name.LICENSE"
  echo "$name $version" >>"$work/out/versions.txt"
done <"$lock"
echo "$lock_sha" >"$work/out/lock.sha256"
rm -rf "$dest"
mv "$work/out" "$dest"
echo "uaqf fetch: report assets in $dest" >&2
