#!/usr/bin/env bash
# Domain mode (issue 16 item 2, docs/DOMAIN.md): wrenn-agent --domain wrenn.test behind a TLS
# front (Debian's nginx on 127.0.0.1:443, a wildcard certificate for *.wrenn.test + wrenn.test
# from a CA this test makes): api.<domain> -> the agent's API, *.<domain> -> its sandbox proxy
# (Host kept).  The unmodified npm e2b SDK, latest and 1.13.2 (1.x knows only E2B_DOMAIN), runs
# with E2B_DOMAIN + E2B_API_KEY alone (tests/e2b/test/domain.test.mjs): create, commands, files,
# signed uploadUrl/downloadUrl with plain fetch, getHost(port) and a server in the sandbox,
# isRunning around kill.  Names: node resolves *.<domain> to 127.0.0.1 through a preload module
# (tests/e2b/lib/dns-preload.mjs), curl through --resolve; /etc/hosts and the host DNS are not
# touched.  Also the zero-setup local mode: curl resolves <port>-<id>.localhost to loopback.
# Budget: < 4 min under TCG.
set -u
cd "$(dirname "$0")/../.." || exit 1
D=wrenn.test # RFC 6761: never a real name
its=$(grep -c "^    it(" tests/e2b/test/domain.test.mjs)
sdks=$(grep -c "^domainSuite(" tests/e2b/test/domain.test.mjs)
N=$((9 + sdks * its + 1 + 3))
# shellcheck source=tests/lib/agent.sh
. tests/lib/agent.sh
echo "1..$N"
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh

e2b_need_tools node npm curl jq python3 openssl nginx
[ "$(id -u)" -eq 0 ] || skip_rest "needs root (nginx on port 443)"
[ -x "$AGENT" ] || skip_rest "$AGENT not built"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"
if ss -Htln 'sport = :443' | grep -q .; then
	# the front must be on 443: the SDK builds https://<host> URLs without a port
	e2b_missing "127.0.0.1:443 is taken ($(ss -Htlnp 'sport = :443' | head -1 | tr -s ' '))"
fi
e2b_npm_ci 76dom

NGX='' SUITE=''
AGENT_TIMEOUT=400 agent_start "wt76$$" --domain "$D" --pool-size 1 --max-sandboxes 4
trap '[ -n "$SUITE" ] && kill -TERM "$SUITE" 2>/dev/null; [ -n "$NGX" ] && kill -TERM "$NGX" 2>/dev/null; agent_cleanup' EXIT
PA=${API##*:} PP=${PX##*:} KEY=$K

# --- the CA and the wildcard certificate ------------------------------------------------------
C=$DATA/tls
mkdir -p "$C" "$DATA/nginx"
{
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wrenn test CA $$" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$C/ca.key" -out "$C/ca.crt" &&
		openssl req -newkey rsa:2048 -nodes -subj "/CN=*.$D" -keyout "$C/front.key" -out "$C/front.csr" &&
		printf 'subjectAltName=DNS:*.%s,DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$D" "$D" >"$C/ext" &&
		openssl x509 -req -in "$C/front.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial -days 2 \
			-extfile "$C/ext" -out "$C/front.crt"
} >"$C/openssl.log" 2>&1
if openssl verify -CAfile "$C/ca.crt" "$C/front.crt" >/dev/null 2>&1 &&
	openssl x509 -in "$C/front.crt" -noout -ext subjectAltName | grep -q "DNS:\*\.$D, DNS:$D"; then
	ok "a throwaway CA and a certificate for *.$D + $D"
else
	nok "a throwaway CA and a certificate for *.$D + $D" "$(tail -5 "$C/openssl.log")"
fi

# --- nginx: the TLS front ---------------------------------------------------------------------
G=$DATA/nginx
cat >"$G/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $G/nginx.pid;
error_log $G/error.log warn;
events { worker_connections 512; }
http {
	access_log $G/access.log;
	client_body_temp_path $G/body;
	proxy_temp_path $G/proxy;
	fastcgi_temp_path $G/fastcgi;
	uwsgi_temp_path $G/uwsgi;
	scgi_temp_path $G/scgi;

	ssl_certificate $C/front.crt;
	ssl_certificate_key $C/front.key;

	map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }

	# streaming (Connect server streams, command output, uploads) and WebSocket friendly
	client_max_body_size 0;
	proxy_http_version 1.1;
	proxy_buffering off;
	proxy_request_buffering off;
	proxy_read_timeout 1h;
	proxy_send_timeout 1h;
	proxy_set_header Host \$host;
	proxy_set_header Upgrade \$http_upgrade;
	proxy_set_header Connection \$connection_upgrade;
	proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
	proxy_set_header X-Forwarded-Proto https;

	server {
		listen 127.0.0.1:443 ssl;
		server_name api.$D;
		location / { proxy_pass http://127.0.0.1:$PA; }
	}
	server {
		listen 127.0.0.1:443 ssl default_server;
		server_name *.$D $D;
		location / { proxy_pass http://127.0.0.1:$PP; }
	}
}
EOF
nginx -p "$G" -c "$G/nginx.conf" >"$G/stdout" 2>&1 &
NGX=$!
for _ in $(seq 1 50); do ss -Htln 'sport = :443' | grep -q . && break; sleep 0.1; done
if kill -0 "$NGX" 2>/dev/null && ss -Htln 'sport = :443' | grep -q 127.0.0.1:443; then
	ok "nginx (TLS front) listens on 127.0.0.1:443"
else
	nok "nginx (TLS front) listens on 127.0.0.1:443" "$(cat "$G/stdout" "$G/error.log" 2>/dev/null | tail -5)"
fi

if [[ "$K" =~ ^e2b_[0-9a-f]{40}$ ]]; then
	ok "wrenn-agent --domain $D started"
else
	nok "wrenn-agent --domain $D started" "$(tail -5 "$DATA/agent.err")"
	skip_rest "no agent"
fi

# curl through the front: names resolved with --resolve, the CA given explicitly
R=(--resolve "api.$D:443:127.0.0.1" --cacert "$C/ca.crt" -H "X-API-Key: $KEY")
hc() { # hc HOST PATH: status code of https://HOST/PATH through the front
	curl -s -o "$DATA/body" -w '%{http_code}' --resolve "$1:443:127.0.0.1" --cacert "$C/ca.crt" "https://$1$2"
}
is "https://api.$D/health through the front (certificate verified)" "$(hc "api.$D" /health)" 200
c=$(curl -s -o "$DATA/body" -w '%{http_code}' "${R[@]}" -H 'Content-Type: application/json' \
	-d '{"templateID":"minimal","timeout":300}' "https://api.$D/sandboxes")
ID=$(jq -r '.sandboxID // empty' "$DATA/body")
is "POST https://api.$D/sandboxes -> 201, the reply's domain is $D" "$c $(jq -r .domain "$DATA/body")" "201 $D"
[ -n "$ID" ] || ID=none
is "https://49983-<id>.$D/health (envd, no sandbox header) -> 204" "$(hc "49983-$ID.$D" /health)" 204
is "https://49983-nosuch.$D/health: an unknown sandbox -> 502" "$(hc "49983-nosuch.$D" /health)" 502
# zero-setup local mode: curl (7.78+) answers *.localhost with loopback itself, no resolver
is "curl http://49983-<id>.localhost:<proxy port>/health (curl resolves *.localhost) -> 204" \
	"$(curl -s -o /dev/null -w '%{http_code} %{remote_ip}' "http://49983-$ID.localhost:$PP/health")" "204 127.0.0.1"
is "DELETE https://api.$D/sandboxes/<id> -> 204" \
	"$(curl -s -o /dev/null -w '%{http_code}' "${R[@]}" -X DELETE "https://api.$D/sandboxes/$ID")" 204

# --- the SDKs: E2B_DOMAIN + E2B_API_KEY only ----------------------------------------------------
t0=$(date +%s)
(
	cd tests/e2b &&
		exec env -i PATH="$PATH" HOME="${HOME:-/root}" E2B_DOMAIN="$D" E2B_API_KEY="$KEY" \
			NODE_EXTRA_CA_CERTS="$C/ca.crt" WRENN_TEST_DOMAIN="$D" \
			WRENN_E2B_TEMPLATE="${WRENN_E2B_TEMPLATE:-minimal}" \
			timeout 200 node --import ./lib/dns-preload.mjs --test --test-concurrency=1 \
			--test-reporter=./lib/tap-flat.mjs test/domain.test.mjs
) >"$DATA/suite.out" 2>"$DATA/suite.err" &
SUITE=$!
wait $SUITE; src=$?
SUITE=
e2b_tap domain "$DATA/suite.out" "$DATA/suite.err" $src "$t0" $((sdks * its))

# --- nothing left ------------------------------------------------------------------------------
left=$(curl -s -H "X-API-Key: $KEY" "$API/v1/sandboxes?state=creating,running,paused" | jq '.sandboxes | length')
is "every sandbox was killed" "$left" 0
kill -TERM "$NGX"
for _ in $(seq 1 50); do kill -0 "$NGX" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$NGX" 2>/dev/null; then
	NGX=
	ok "nginx stopped"
else
	nok "nginx stopped"
fi
kill -TERM "$APID"
for _ in $(seq 1 300); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
rc=timeout
kill -0 "$APID" 2>/dev/null || { wait "$APID"; rc=$?; APID=; }
qemus=$(pgrep -f "qemu-system.*$DATA" | wc -l)
nsl=$(ip netns list | grep -c "^$T-")
if [ "$rc" = 0 ] && [ "$qemus" = 0 ] && [ "$nsl" = 0 ]; then
	ok "agent stopped: exit 0, no qemu process, no $T- namespace"
else
	nok "agent stopped: exit 0, no qemu process, no $T- namespace" "rc=$rc qemu=$qemus namespaces=$nsl"
fi
exit $fail
