#!/usr/bin/env bash
# Puts the pinned llama.cpp release, prebuilt, into third_party/llama-prebuilt (git-ignored): the
# Linux x64 CPU libraries of the npm package named in third_party/llama.cpp.lock (prebuilt_*),
# which node-llama-cpp built from the same release as the source bundle (scripts/fetch-llama.sh).
# The tarball is cached (UAQF_CACHE_DIR, default ~/.cache/uaqf) and checked against the pinned
# sha256; the package's build metadata must name the pinned release and a CPU-only build.
# Linux x86-64 only (the package's glibc floor is Ubuntu 22.04's, 2.35).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lock="$root/third_party/llama.cpp.lock"
dest="${UAQF_LLAMA_PREBUILT_DIR:-$root/third_party/llama-prebuilt}"
cache="${UAQF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uaqf}"

lock_get() { sed -n "s/^$1=//p" "$lock"; }
pkg=$(lock_get prebuilt_npm_package)
ver=$(lock_get prebuilt_npm_version)
want_sha=$(lock_get prebuilt_tarball_sha256)
bins=$(lock_get prebuilt_bins_path)
release=$(lock_get llama_release)

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "uaqf fetch: the prebuilt engine is for Linux x86-64, not $(uname -s) $(uname -m): use the source build" >&2
  exit 1
fi
if [ -f "$dest/.uaqf-tarball-sha256" ] && [ "$(cat "$dest/.uaqf-tarball-sha256")" = "$want_sha" ]; then
  exit 0
fi

source "$root/scripts/lib/npm-pack.sh"
tarball=$(npm_pack_verified "$pkg" "$ver" "$want_sha" "$cache")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work" "$bins"
meta="$work/$bins/_nlcBuildMetadata.json"
got_release=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["buildOptions"]; print(m["llamaCpp"]["release"], m["gpu"])' "$meta")
if [ "$got_release" != "$release False" ]; then
  echo "uaqf fetch: $pkg@$ver was built from llama.cpp '$got_release' (release, gpu), expected '$release False'" >&2
  exit 1
fi
rm -rf "$dest.part"
mkdir -p "$dest.part"
cp -p "$work/$bins"/*.so "$meta" "$dest.part/"
echo "$want_sha" >"$dest.part/.uaqf-tarball-sha256"
rm -rf "$dest"
mv "$dest.part" "$dest"
echo "uaqf fetch: llama.cpp $release prebuilt ($pkg@$ver) in $dest" >&2
