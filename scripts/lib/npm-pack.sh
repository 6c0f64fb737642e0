# Sourced by the fetch scripts. npm_pack_verified NAME VERSION SHA256 CACHE_DIR: prints the path of
# the package's tarball in CACHE_DIR, fetched with `npm pack` unless a cached copy has the pinned
# sha256; a tarball with another hash is never used.
npm_pack_verified() {
  local name=$1 version=$2 want_sha=$3 cache=$4
  local tarball="$cache/${name//\//-}-$version.tgz" tmp got_sha
  mkdir -p "$cache"
  if [ -f "$tarball" ] && [ "$(sha256sum "$tarball" | cut -d' ' -f1)" != "$want_sha" ]; then
    echo "uaqf fetch: cached $tarball has the wrong hash; fetching again" >&2
    rm -f "$tarball"
  fi
  if [ ! -f "$tarball" ]; then
    echo "uaqf fetch: npm pack $name@$version" >&2
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
    mv "$tmp"/*.tgz "$tarball.part"
    rm -rf "$tmp"
    got_sha=$(sha256sum "$tarball.part" | cut -d' ' -f1)
    if [ "$got_sha" != "$want_sha" ]; then
      rm -f "$tarball.part"
      echo "uaqf fetch: $name@$version tarball sha256 $got_sha does not match the pinned $want_sha" >&2
      return 1
    fi
    mv "$tarball.part" "$tarball"
  fi
  echo "$tarball"
}
