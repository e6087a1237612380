# shellcheck shell=bash disable=SC2034 # the variables are used by the scripts that source this file
# Shared by scripts/deps.sh and scripts/stack.sh: paths, pinned ports, messages, privilege helpers.
# Sourced, never run. Every value here can be overridden from the environment.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${FIAPX_STATE_DIR:-$REPO_ROOT/.state}"
LOG_DIR="$STATE_DIR/logs"
VENV_DIR="$STATE_DIR/venv"
PKGCONFIG_DIR="$STATE_DIR/pkgconfig"
ENV_FILE="$STATE_DIR/env"

# Loopback only: nothing of the local stack is reachable from outside the machine.
BIND_IP=127.0.0.1

NATS_PORT="${FIAPX_NATS_PORT:-14222}"
NATS_MONITOR_PORT="${FIAPX_NATS_MONITOR_PORT:-18222}"

PG_VERSION=15
PG_CLUSTER=main
PG_PORT="${FIAPX_PG_PORT:-5432}"
PG_USER=fiapx
PG_PASSWORD=fiapx
PG_DB=fiapx

# SeaweedFS `weed mini` runs master, volume, filer, S3 and admin in one process. Every port is moved off its
# default (8888, 9333, 9340, 8333, 23646, 8181, 9101, 7333) so none can clash with our HTTP service on 8080 or with
# another SeaweedFS; gRPC ports are set explicitly rather than left to the "+10000" rule.
S3_PORT="${FIAPX_S3_PORT:-18333}"
S3_GRPC_PORT=28333
WEED_MASTER_PORT=19333
WEED_MASTER_GRPC_PORT=29333
WEED_VOLUME_PORT=19340
WEED_VOLUME_GRPC_PORT=29340
WEED_FILER_PORT=18888
WEED_FILER_GRPC_PORT=28888
WEED_ADMIN_PORT=19646
WEED_ADMIN_GRPC_PORT=29646
S3_REGION="${FIAPX_S3_REGION:-us-east-1}"
S3_ACCESS_KEY="${FIAPX_S3_ACCESS_KEY:-fiapx}"
S3_SECRET_KEY="${FIAPX_S3_SECRET_KEY:-fiapx-secret-key}"

SMTP_PORT="${FIAPX_SMTP_PORT:-12525}"

# How long `up` waits for each server to answer.
WAIT_SECONDS="${FIAPX_WAIT_SECONDS:-30}"

if [[ -t 1 ]]; then
  _bold=$'\e[1m' _red=$'\e[31m' _green=$'\e[32m' _yellow=$'\e[33m' _reset=$'\e[0m'
else
  _bold='' _red='' _green='' _yellow='' _reset=''
fi

info() { printf '%s==>%s %s\n' "$_bold" "$_reset" "$*"; }
ok() { printf '  %sok%s   %s\n' "$_green" "$_reset" "$*"; }
warn() { printf '  %swarn%s %s\n' "$_yellow" "$_reset" "$*" >&2; }
die() {
  printf '%serror:%s %s\n' "$_red" "$_reset" "$*" >&2
  exit 1
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# Run a command as the postgres OS user, from a directory it can read.
as_postgres() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -u postgres -- "$@")
  fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/$BIND_IP/$1") 2>/dev/null
}

# Serialise deps/up/down: several people (or make -j) may run them in the same working tree at once, and two
# starts of one server would race for its ports and pid file. The lock is released when the script exits.
take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  if ! flock -n 9; then
    info "waiting for another make deps/up/down in this tree to finish"
    flock -w 600 9 || die "gave up waiting for $STATE_DIR/.lock"
  fi
}
