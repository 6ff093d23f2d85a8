# shellcheck shell=bash
# Sourced (not run) by bench/scaleout.sh and bench/scaleout-templates.sh: one control plane and
# one host agent on loopback over a throwaway PostgreSQL (tests/lib/pg.sh), the same requests
# straight to the host and through the control plane.
#   bso_setup NAME TAG EGRESS PROXY  NAME the script (messages), TAG its names (namespaces TAG-,
#       veths TAGv-, nft table TAG, data /tmp/wrenn-TAG.*), EGRESS the host's --egress-base,
#       PROXY yes for a control-plane sandbox-traffic port.  Calls the script's na (its BENCH
#       lines as NaN) without root, the agent, the image or PostgreSQL.  Sets W (scratch dir),
#       CP PC PCX (control plane), HA PA PP (host API and proxy ports), AK (admin key), ID (the
#       host's id), HK (the host's own admin key); everything is removed on exit.
#   stats NAME FILE      BENCH NAME <p50> ms p95=<x> n=<N> of FILE's ms values, one per line
# Env: WRENN_BUILD (build/release), WRENN_GUEST.
B=${WRENN_BUILD:-build/release}
A=$B/bin/wrenn-agent
IMAGES=${WRENN_GUEST:-$(dirname "$B")/guest}
. tests/lib/pg.sh
W='' CPID='' HPID='' BSO_TAG=''

bso_cleanup() {
	local p ns
	for p in $HPID $CPID; do kill -TERM "$p" 2>/dev/null; done
	for p in $HPID $CPID; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	[ -n "$W" ] && pkill -KILL -f "$W/" 2>/dev/null
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$BSO_TAG-"); do ip netns del "$ns"; done
	[ -n "$W" ] && rm -rf "$W"
	pg_stop
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bso_setup() {
	local name=$1 j
	BSO_TAG=$2
	if [ "$(id -u)" != 0 ] || [ ! -x "$A" ] || [ ! -r "$IMAGES/minimal.ext4" ]; then
		echo "# $name: needs root, $A and $IMAGES/minimal.ext4" >&2
		na
	fi
	W=$(mktemp -d "/tmp/wrenn-$BSO_TAG.XXXXXX")
	trap bso_cleanup EXIT
	pg_start || { echo "# $name: no PostgreSQL" >&2; na; }
	PC=$(port) PCX='' PA=$(port) PP=$(port)
	[ "$4" = yes ] && PCX=$(port)
	CP=http://127.0.0.1:$PC HA=http://127.0.0.1:$PA
	mkdir -p "$W/c" "$W/h"
	"$A" --role control --database "$PGURL" --api-listen "127.0.0.1:$PC" \
		--proxy-listen "${PCX:+127.0.0.1:$PCX}" --data-dir "$W/c" --log-level warn >/dev/null 2>"$W/c/err" &
	CPID=$!
	for _ in $(seq 1 100); do curl -sf "$CP/health" >/dev/null && break; sleep 0.1; done
	AK=$(cat "$W/c/admin-key")
	j=$(curl -s -H "X-API-Key: $AK" -d '{"name":"bench"}' "$CP/v1/hosts")
	ID=$(jq -r .id <<<"$j"); jq -r .credential <<<"$j" >"$W/cred"
	"$A" --role host --control "$CP" --host-id "$ID" --host-credential-file "$W/cred" --data-dir "$W/h" \
		--images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" --proxy-listen "127.0.0.1:$PP" \
		--ns-prefix "$BSO_TAG-" --veth-prefix "${BSO_TAG}v-" --nft-table "$BSO_TAG" --egress-base "$3" \
		--default-internet=false --auto-snapshot=false --warm-pool 0 --log-level warn \
		>/dev/null 2>"$W/h/err" &
	HPID=$!
	for _ in $(seq 1 100); do
		[ "$(curl -s -H "X-API-Key: $AK" "$CP/v1/hosts/$ID" | jq -r .state)" = ready ] && break
		sleep 0.2
	done
	HK=$(cat "$W/h/admin-key")
}

stats() { # name file(ms per line)
	sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
		if (NR == 0) { printf "BENCH %s NaN ms p95=NaN n=0\n", name; exit }
		p50 = v[int((NR + 1) / 2)]; i = int(NR * 0.95 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR
		printf "BENCH %s %.2f ms p95=%.2f n=%d\n", name, p50, v[i], NR }'
}
