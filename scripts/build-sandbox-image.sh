#!/usr/bin/env bash
# Builds an image for the docker sandbox backend without any container registry, and loads it with
# `podman import` (or `docker import`).
#
#   scripts/build-sandbox-image.sh [--from host|debootstrap] [--include pkg,pkg] [IMAGE]
#
#   --from host          (default, ~1 s, offline) copies a shell, coreutils and the usual text,
#                        archive and process tools from this machine, with the libraries `ldd`
#                        lists for them. Enough for every built-in tool (shell, read/write/edit_file);
#                        socat (needed for sandbox.network allowlists), curl and python3 (with its
#                        standard library) when the host has them.
#   --from debootstrap   (~35 s, needs a Debian mirror, root and the `debootstrap` package) a real
#                        Debian minbase tree with socat, plus the packages named by --include (for
#                        example python3,git,curl,ca-certificates).
#   IMAGE                the tag to create; default herm-sandbox:latest (HERM_DOCKER_IMAGE's default).
#
# Either way the image holds a `sandbox` user (uid/gid 1000, home /workspace), an empty /workspace and
# a /tmp, and nothing of the host's /etc beyond what programs need to start.
set -euo pipefail

from=host
include=''
image=herm-sandbox:latest
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from="${2:?--from needs host or debootstrap}"; shift 2 ;;
    --from=*) from="${1#--from=}"; shift ;;
    --include) include="${2:?--include needs a comma-separated package list}"; shift 2 ;;
    --include=*) include="${1#--include=}"; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-sandbox-image: unknown option $1" >&2; exit 2 ;;
    *) image="$1"; shift ;;
  esac
done

if command -v podman >/dev/null 2>&1; then engine=podman
elif command -v docker >/dev/null 2>&1; then engine=docker
else echo "build-sandbox-image: needs podman or docker to import the image (apt-get install podman runc)" >&2; exit 1
fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/herm-sandbox-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT

# Commands copied in --from host mode: what agents reach for first, all of it small.
HOST_COMMANDS=(
  sh dash bash
  ls cat cp mv rm mkdir rmdir ln chmod chown chgrp touch head tail wc sort uniq cut tr tee env id whoami
  pwd dirname basename date sleep true false echo printf test '[' expr seq yes stat du df readlink realpath
  mktemp nohup timeout nproc uname od split join paste comm fold fmt nl tac install truncate shuf numfmt tsort
  sha1sum sha256sum sha512sum md5sum base64 cksum sync dd fallocate
  find xargs grep egrep fgrep sed awk gawk mawk diff cmp patch
  tar gzip gunzip zcat xz unxz bzip2 bunzip2 zip unzip
  ps kill pgrep pkill setsid rev hexdump xxd iconv getent which file less more jq
  socat curl
)

copy_with_parents() { # copy host file $1 (dereferenced) to the same path under the rootfs
  local source="$1" target="$rootfs$1"
  [ -e "$target" ] && return 0
  mkdir -p "$(dirname "$target")"
  cp -L "$source" "$target"
}

build_from_host() {
  mkdir -p "$rootfs/usr/bin" "$rootfs/usr/sbin"
  ln -s usr/bin "$rootfs/bin"
  ln -s usr/sbin "$rootfs/sbin"
  local libraries=() name path library
  for name in "${HOST_COMMANDS[@]}"; do
    path="$(type -P "$name" 2>/dev/null || true)"
    [ -n "$path" ] || continue
    cp -L "$path" "$rootfs/usr/bin/$name"
    # ldd lines look like "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)".
    while read -r library; do libraries+=("$library"); done < <(ldd "$path" 2>/dev/null | grep -o '/[^ ]*' || true)
  done
  # Python (the distribution's /usr/bin/python3 and its standard library, without its tests): what agents'
  # scripts reach for, and what the secrets tests' urllib requests run on.
  local python version module
  python="$(readlink -f /usr/bin/python3 2>/dev/null || true)"
  version="$(basename "${python:-none}")"
  if [ -x "$python" ] && [ -d "/usr/lib/$version" ]; then
    cp -L "$python" "$rootfs/usr/bin/$version"
    ln -s "$version" "$rootfs/usr/bin/python3"
    mkdir -p "$rootfs/usr/lib"
    tar -C /usr/lib --exclude="$version/test" --exclude="$version/idlelib" --exclude="$version/tkinter" --exclude="$version/ensurepip" \
      --exclude='__pycache__' --exclude="$version/site-packages" --exclude="$version/dist-packages" -chf - "$version" | tar -C "$rootfs/usr/lib" -xf -
    while read -r library; do libraries+=("$library"); done < <(ldd "$python" 2>/dev/null | grep -o '/[^ ]*' || true)
    for module in "/usr/lib/$version"/lib-dynload/*.so; do
      while read -r library; do libraries+=("$library"); done < <(ldd "$module" 2>/dev/null | grep -o '/[^ ]*' || true)
    done
  fi
  for library in $(printf '%s\n' "${libraries[@]}" | sort -u); do copy_with_parents "$library"; done
  # `file` needs its magic database; C.UTF-8 (LANG in the sandbox) needs its locale files; curl (through the
  # egress proxy of sandbox.network) needs the TLS trust roots.
  for data in /usr/lib/file/magic.mgc /usr/share/misc/magic.mgc /usr/lib/locale/C.utf8 /usr/lib/locale/C.UTF-8 /etc/ssl/certs/ca-certificates.crt; do
    [ -e "$data" ] && mkdir -p "$rootfs$(dirname "$data")" && cp -a -L "$data" "$rootfs$data"
  done
  if command -v ldconfig >/dev/null 2>&1; then mkdir -p "$rootfs/etc" && ldconfig -r "$rootfs" 2>/dev/null || true; fi
}

build_from_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 || { echo "build-sandbox-image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  # The suite and mirror this machine's apt already uses, unless given.
  local suite mirror
  suite="${HERM_DEBIAN_SUITE:-$( (. /etc/os-release && echo "${VERSION_CODENAME:-}") 2>/dev/null)}"
  suite="${suite:-bookworm}"
  mirror="${HERM_DEBIAN_MIRROR:-}"
  if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 || true)"
  fi
  mirror="${mirror%% }"
  mirror="${mirror:-http://deb.debian.org/debian}"
  # socat: the bridge to the egress proxy of deployments with a sandbox.network allowlist.
  debootstrap --variant=minbase --include="socat${include:+,$include}" "$suite" "$rootfs" "$mirror" >&2
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
}

case "$from" in
  host) build_from_host ;;
  debootstrap) build_from_debootstrap ;;
  *) echo "build-sandbox-image: --from must be host or debootstrap, got $from" >&2; exit 2 ;;
esac

# Accounts and the few /etc files programs read; the engine bind-mounts hosts, hostname and resolv.conf.
mkdir -p "$rootfs/etc" "$rootfs/workspace" "$rootfs/tmp" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys" "$rootfs/run"
chmod 1777 "$rootfs/tmp"
chown 1000:1000 "$rootfs/workspace" 2>/dev/null || chmod 0777 "$rootfs/workspace"
cat > "$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
sandbox:x:1000:1000:sandbox:/workspace:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat > "$rootfs/etc/group" <<'EOF'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' > "$rootfs/etc/nsswitch.conf"
rm -f "$rootfs/etc/shadow" "$rootfs/etc/gshadow"
touch "$rootfs/etc/hosts" "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"

quiet=()
[ "$engine" = podman ] && quiet=(--quiet)
tar -C "$rootfs" --numeric-owner -cf - . | "$engine" import "${quiet[@]}" \
  --change 'USER 1000:1000' \
  --change 'WORKDIR /workspace' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sleep","infinity"]' \
  - "$image" >/dev/null
echo "build-sandbox-image: built $image ($from, $(du -sh "$rootfs" | cut -f1)) with $engine" >&2
