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

mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"
while read -r name version want_sha file license; do
  case "$name" in '' | '#'*) continue ;; esac
  tarball="$cache/$name-$version.tgz"
  if [ -f "$tarball" ] && [ "$(sha256sum "$tarball" | cut -d' ' -f1)" != "$want_sha" ]; then
    echo "uaqf fetch: cached $tarball has the wrong hash; fetching again" >&2
    rm -f "$tarball"
  fi
  if [ ! -f "$tarball" ]; then
    echo "uaqf fetch: npm pack $name@$version" >&2
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
    mv "$tmp/$name-$version.tgz" "$tarball.part"
    rm -rf "$tmp"
    got_sha=$(sha256sum "$tarball.part" | cut -d' ' -f1)
    if [ "$got_sha" != "$want_sha" ]; then
      rm -f "$tarball.part"
      echo "uaqf fetch: $name@$version tarball sha256 $got_sha does not match the pinned $want_sha" >&2
      exit 1
    fi
    mv "$tarball.part" "$tarball"
  fi
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
