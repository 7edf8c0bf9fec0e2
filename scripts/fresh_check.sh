#!/usr/bin/env bash
# The honest test of "set up from two commands": builds a minimal Debian 12 (debootstrap --variant=minbase
# bookworm) in a temporary folder, clones this repository's HEAD into it and runs the README's two commands,
# scripts/quickstart.sh and scripts/test.sh, in a chroot. Nothing installed on this machine by hand can help
# them there. The last line printed is `fresh_check: quickstart ok, tests ok`, or what failed.
#
#   scripts/fresh_check.sh [--keep] [--dir DIR]
#     --keep     leave the chroot in place afterwards (to look around: chroot DIR/root bash)
#     --dir DIR  work in DIR (default: a new folder under ${TMPDIR:-/var/tmp}); about 4 GB; the log is DIR.log
#
# Needs root (debootstrap, mount, chroot) and the network to Debian's mirror and the npm registry. Takes about
# 2 minutes for debootstrap plus the time of the two commands. Not part of .ci/run: run it before resolving an
# issue that touches dependencies or setup. Only committed work is checked: the clone is of HEAD.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIRROR="http://deb.debian.org/debian"

keep=0
work=""
while (($#)); do
  case "$1" in
    --keep) keep=1 ;;
    --dir) work="$2"; shift ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "fresh_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "fresh_check: $*"; }
[[ $(id -u) -eq 0 ]] || { say "FAILED: needs root (debootstrap, mount, chroot)"; exit 2; }
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap on this machine"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

[[ -n $work ]] || work="$(mktemp -d "${TMPDIR:-/var/tmp}/spikeforge-fresh.XXXXXX")"
mkdir -p "$work"
root="$work/root"
log="$work.log"  # beside the folder, so it outlives the cleanup
mounted=()

cleanup() {
  local m
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m="${mounted[i]}"
    umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null || true
  done
  if ((keep)); then
    say "kept $root (log: $log)"
    return
  fi
  # Never delete through a mount that is still there (a bound /dev or /proc).
  if findmnt -rn -o TARGET | grep -q "^$root/"; then
    say "left $work in place: something is still mounted under it"
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT

say "log in $log"
if [[ ! -x $root/bin/bash ]]; then
  say "debootstrap --variant=minbase bookworm (about 2 minutes)"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >>"$log" 2>&1 ||
    { say "FAILED: debootstrap (see $log)"; exit 1; }
fi

# apt's sources (bookworm, -updates, -security) and DNS as on this machine; this machine's CA bundle so that
# npm reaches its registry (minbase has no ca-certificates package).
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
  rm -f "$root/etc/apt/sources.list"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/fresh-check-ca.crt"

for fs in proc sys dev; do
  mkdir -p "$root/$fs"
  mount --rbind "/$fs" "$root/$fs"
  mount --make-rslave "$root/$fs"
  mounted+=("$root/$fs")
done

rm -rf "$root/src/spikeforge"
mkdir -p "$root/src"
git clone -q "$REPO_ROOT" "$root/src/spikeforge"
say "cloned $(git -C "$root/src/spikeforge" log -1 --format='%h %s' | cut -c1-80)"

in_chroot() {
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/fresh-check-ca.crt \
    /bin/bash -c "cd /src/spikeforge && $1"
}

result=()
status=0
for step in quickstart test; do
  say "running scripts/$step.sh in the chroot"
  start=$SECONDS
  if in_chroot "scripts/$step.sh" >>"$log" 2>&1; then
    say "scripts/$step.sh ok ($((SECONDS - start)) s)"
    [[ $step == test ]] && result+=("tests ok") || result+=("quickstart ok")
  else
    status=1
    say "scripts/$step.sh FAILED after $((SECONDS - start)) s; its last lines:"
    tail -n 20 "$log" | sed 's/^/  | /'
    [[ $step == test ]] && result+=("tests FAILED") || result+=("quickstart FAILED")
    keep=1
  fi
done
say "$(IFS=,; echo "${result[*]}" | sed 's/,/, /')"
exit $status
