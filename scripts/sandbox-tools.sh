# Sourced by ./herm serve: the programs the bubblewrap sandbox needs on this machine — bwrap (package bubblewrap)
# and socat (the bridge of sandbox.network allowlists). Missing ones are installed with the system's package
# manager when this runs as root and finds apt-get, dnf or apk; otherwise one line says the exact command.
# Without bwrap the server still starts, but deployments on the bubblewrap sandbox are refused (status "error")
# until it is installed; HERM_SANDBOX=docker, or HERM_ALLOW_UNSANDBOXED=true for deployments with
# sandbox.enabled false, are the explicit ways round it.
# HERM_SANDBOX_INSTALL: auto (default: install when root), no (never install, only say what is missing),
# dry-run (say what auto would do, install nothing: the tests use it).

# The package manager's install command for the given packages, or nothing when none is known.
herm_package_install_command() {
  if command -v apt-get >/dev/null 2>&1; then
    echo "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $*"
  elif command -v dnf >/dev/null 2>&1; then
    echo "dnf install -y -q $*"
  elif command -v apk >/dev/null 2>&1; then
    echo "apk add --no-cache $*"
  fi
}

# The same for a person to type (sudo when not root).
herm_package_install_hint() {
  local sudo=''
  [ "$(id -u)" = 0 ] || sudo='sudo '
  if command -v apt-get >/dev/null 2>&1; then echo "${sudo}apt-get install -y $*"
  elif command -v dnf >/dev/null 2>&1; then echo "${sudo}dnf install -y $*"
  elif command -v apk >/dev/null 2>&1; then echo "${sudo}apk add $*"
  else echo "install $* with your system's package manager"
  fi
}

herm_sandbox_tools() {
  local mode="${HERM_SANDBOX_INSTALL:-auto}" missing=() install
  # A server whose default sandbox is docker needs neither here (socat is inside the image).
  [ "${HERM_SANDBOX:-auto}" = docker ] && return 0
  command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
  command -v socat >/dev/null 2>&1 || missing+=(socat)
  [ ${#missing[@]} -eq 0 ] && return 0
  install="$(herm_package_install_command "${missing[@]}")"
  if [ "$mode" != no ] && [ "$(id -u)" = 0 ] && [ -n "$install" ]; then
    if [ "$mode" = dry-run ]; then
      echo "herm: would install ${missing[*]}: $install" >&2
      return 0
    fi
    echo "herm: installing ${missing[*]} (the sandbox needs it): $install" >&2
    if bash -c "$install" >&2; then
      missing=()
      command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
      command -v socat >/dev/null 2>&1 || missing+=(socat)
      [ ${#missing[@]} -eq 0 ] && return 0
    fi
    echo "herm: could not install ${missing[*]}" >&2
  fi
  local hint
  hint="$(herm_package_install_hint "${missing[@]}")"
  if [[ " ${missing[*]} " == *' bubblewrap '* ]]; then
    echo "herm: bubblewrap (bwrap) is not installed: deployments on the bubblewrap sandbox are refused (status error) until it is. Install: $hint (or set HERM_SANDBOX=docker; HERM_ALLOW_UNSANDBOXED=true runs deployments with sandbox.enabled false without a sandbox)" >&2
  else
    echo "herm: socat is not installed: deployments with a sandbox.network allowlist are refused (status error) until it is. Install: $hint" >&2
  fi
}
