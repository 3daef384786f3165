#!/usr/bin/env bash
# make demo: a collector on an embedded RocksDB under ./var, an agent replaying the bundled
# pcap and logs (demo/) into it, and the alerts shown through the HTTP API.
# Ports: HALONG_DEMO_API_PORT (default 8080) and HALONG_DEMO_GATEWAY_PORT (default 7443).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
AGENT="$BUILD_DIR/agent/halong-agent"
COLLECTOR="$BUILD_DIR/collector/halong-collector"
API_PORT="${HALONG_DEMO_API_PORT:-8080}"
GW_PORT="${HALONG_DEMO_GATEWAY_PORT:-7443}"
VAR="$PWD/var"

for b in "$AGENT" "$COLLECTOR"; do
  [ -x "$b" ] || { echo "demo: $b is missing; run 'make build' first" >&2; exit 1; }
done
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$API_PORT" "$GW_PORT"; do
  if port_busy "$p"; then
    echo "demo: port $p on 127.0.0.1 is in use (another demo still running?)." >&2
    echo "      Stop it, or choose ports: make demo HALONG_DEMO_API_PORT=18080 HALONG_DEMO_GATEWAY_PORT=17443" >&2
    exit 1
  fi
done
# Each demo starts from an empty ./var so that what it shows is what this run stored.
rm -rf "$VAR/collector" "$VAR/agent" "$VAR/collector.log"
mkdir -p "$VAR"

# A web-page login for the demo: user "admin" with a fresh random password (0600 file).
# `user add` writes into the store, so it runs before the collector opens it.
umask 077
mkdir -p "$VAR/collector"
head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$VAR/admin-password"
umask 022
"$COLLECTOR" user add admin --role admin --config demo/collector.yaml < "$VAR/admin-password" > /dev/null

echo "== 1. collector: data in $VAR/collector, API on 127.0.0.1:$API_PORT, agent gateway on 127.0.0.1:$GW_PORT"
"$COLLECTOR" serve --config demo/collector.yaml \
  --set "api.listen=127.0.0.1:$API_PORT" --set "gateway.listen=127.0.0.1:$GW_PORT" \
  > "$VAR/collector.log" 2>&1 &
COLLECTOR_PID=$!
cleanup() { kill "$COLLECTOR_PID" 2>/dev/null || true; wait "$COLLECTOR_PID" 2>/dev/null || true; }
trap cleanup EXIT
trap 'echo; echo "demo: stopping the collector"; exit 0' INT TERM

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$COLLECTOR_PID" 2>/dev/null; then
    echo "demo: the collector stopped; its log:" >&2; cat "$VAR/collector.log" >&2; exit 1
  fi
  sleep 0.1
done
API_TOKEN_FILE="$VAR/collector/api-token"
ENROLL_TOKEN_FILE="$VAR/collector/enroll-token"
CA_FILE="$VAR/collector/tls/collector.crt"
for f in "$API_TOKEN_FILE" "$ENROLL_TOKEN_FILE" "$CA_FILE"; do
  [ -f "$f" ] || { echo "demo: the collector did not create $f; its log:" >&2; cat "$VAR/collector.log" >&2; exit 1; }
done
API_TOKEN="$(cat "$API_TOKEN_FILE")"

echo "== 2. agent: replaying demo/sample.pcap, demo/auth.log and demo/access.log, shipping to the collector"
"$AGENT" replay --config demo/agent.yaml --pcap demo/sample.pcap --logs-from-config \
  --set "collector.address=127.0.0.1:$GW_PORT" --set "collector.token=$(cat "$ENROLL_TOKEN_FILE")" \
  --set "collector.ca_file=$CA_FILE" --send --quiet

echo "== 3. alerts stored, read back through the API"
COUNT_JSON="$(curl -fsS -H "Authorization: Bearer $API_TOKEN" "http://127.0.0.1:$API_PORT/api/v1/alerts?limit=1000")"
python3 - "$COUNT_JSON" <<'PY'
import json, sys
alerts = json.loads(sys.argv[1])["alerts"]
print("%d alerts stored:" % len(alerts))
for a in alerts:
    al = a["alert"]
    where = ("%s:%s -> %s:%s" % (a.get("src_ip"), a.get("src_port"), a.get("dest_ip"), a.get("dest_port"))
             if a.get("source") == "network" else a.get("log", {}).get("path", ""))
    print("  [%s] %-8s sid %-10s sev %s  %s  (%s)" % (a["timestamp"][11:19], al.get("engine"), al["signature_id"],
                                                   al.get("severity"), al["signature"], where))
PY
cat <<MSG

Try the API yourself (the token is in $API_TOKEN_FILE, mode 0600):
  curl -s -H "Authorization: Bearer \$(cat $API_TOKEN_FILE)" 'http://127.0.0.1:$API_PORT/api/v1/alerts?limit=5'
  curl -s -H "Authorization: Bearer \$(cat $API_TOKEN_FILE)" 'http://127.0.0.1:$API_PORT/api/v1/alerts?sid=9000010'

The web page: http://127.0.0.1:$API_PORT/  (user admin, password in $VAR/admin-password)

The collector keeps running (log: $VAR/collector.log). Press Ctrl-C to stop it.
MSG
wait "$COLLECTOR_PID"
