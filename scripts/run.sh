#!/usr/bin/env bash
# Runs FIAP X from a built `fiapx` binary, the way `make run` does, as often as you like on the same checkout:
# applies the migrations (a no-op when they are applied), makes the token signing key and the notifier's secrets key
# only when they are missing (so that sessions, share links and webhook secrets survive a restart), then runs every
# service in the foreground (Ctrl-C stops it).
#
#   scripts/run.sh BINARY
#
# The stack's addresses come from the environment (`make run` exports .state/env). FIAPX_STATE is the state
# directory (default .state; the keys are FIAPX_STATE/auth/root.key and FIAPX_STATE/notifier/secrets.key, mode 600);
# FIAPX__HTTP__BIND and FIAPX__HTTP__PUBLIC_URL move the server off http://127.0.0.1:8080, FIAPX__METRICS__BIND the
# Prometheus metrics off 127.0.0.1:9464 (empty: no metrics listener). services/fiapx/tests/cli.rs runs this script
# twice in a row.
set -euo pipefail

(($# == 1)) || {
  echo "usage: scripts/run.sh BINARY (e.g. target/release/fiapx)" >&2
  exit 2
}
bin=$1
[[ -x $bin ]] || {
  echo "scripts/run.sh: $bin is not an executable (build it first: cargo build --release -p fiapx)" >&2
  exit 2
}
state=${FIAPX_STATE:-.state}
key=$state/auth/root.key
secrets_key=$state/notifier/secrets.key
url=${FIAPX__HTTP__PUBLIC_URL:-http://${FIAPX__HTTP__BIND:-127.0.0.1:8080}}
metrics_bind=${FIAPX__METRICS__BIND-127.0.0.1:9464}
metrics=${metrics_bind:+metrics http://$metrics_bind/metrics}

"$bin" migrate
if [[ ! -f $key ]]; then
  "$bin" keys generate --out "$key" >/dev/null
fi
if [[ ! -f $secrets_key ]]; then
  "$bin" keys generate-secrets-key --out "$secrets_key" >/dev/null
fi

echo
echo "FIAP X: open $url in a browser (API docs $url/api/docs, ${metrics:-no metrics listener})"
echo "API:   POST /api/v1/auth/register or /auth/login, then send 'Authorization: Bearer <access_token>' (see README)"
echo "Mail:  what the notifier sends lands in $state/logs/smtp.log and $state/mail/*.eml (loopback http webhooks allowed)"
echo

export FIAPX__AUTH__PRIVATE_KEY_FILE="$key" FIAPX__NOTIFIER__SECRETS_KEY_FILE="$secrets_key"
export FIAPX__NOTIFIER__ALLOW_INSECURE_WEBHOOKS=true
exec "$bin" serve all
