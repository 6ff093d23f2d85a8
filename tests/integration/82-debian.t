#!/usr/bin/env bash
# The default template users get: E2B's default templateID "base" resolves to the debian
# image (debootstrap bookworm). A real microVM boots it through wrenn-agent; python3, bash,
# coreutils and the non-root user `user` (E2B's default) are there and usable, with what code
# written for E2B's base template assumes: passwordless sudo, curl, git, pip, python, node, npm.
set -u
cd "$(dirname "$0")/../.."
N=16
echo "1..$N"
. tests/lib/agent.sh
[ -r "$IMAGES/debian.ext4" ] || { nok "debian image present in $IMAGES (make guest)"; skip_rest "no debian image"; }
agent_start wt82$$ --pool-size 1 --max-sandboxes 2
H=(-H "X-API-Key: $K")
has() { case "$2" in *"$3"*) ok "$1" ;; *) nok "$1" "got '$2', want it to contain '$3'" ;; esac; }
code() { curl -s -o "$DATA/body" -w '%{http_code}' "$@"; }

c=$(code "${H[@]}" -H 'Content-Type: application/json' -d '{"templateID":"base","timeout":300}' "$API/sandboxes")
ID=$(jq -r .sandboxID "$DATA/body" 2>/dev/null)
is "E2B create with the SDK's default template 'base' -> 201" "$c" 201
is "base resolves to the debian template" "$(jq -r .templateID "$DATA/body")" debian
x() { curl -s "${H[@]}" -d "$1" "$API/v1/sandboxes/$ID/exec"; }
is "bash runs commands (E2B runs /bin/bash -l -c CMD)" "$(x '{"cmd":["/bin/bash","-l","-c","echo $0 ok"]}' | jq -r .stdout)" "/bin/bash ok"
is "python3 works" "$(x '{"cmd":["python3","-c","print(6*7)"]}' | jq -r .stdout)" "42"
is "Debian bookworm userland" "$(x '{"cmd":"grep -o bookworm /etc/os-release | head -1"}' | jq -r .stdout)" "bookworm"
is "user 'user' with home /home/user" "$(x '{"cmd":"getent passwd user | cut -d: -f6"}' | jq -r .stdout)" "/home/user"
is "commands run as 'user' when asked" "$(x '{"cmd":"id -un; echo $HOME","user":"user"}' | jq -j .stdout | paste -sd " ")" "user /home/user"
is "ca-certificates and procps present" "$(x '{"cmd":"ls /etc/ssl/certs | grep -c pem >/dev/null && ps -o comm= -p 1"}' | jq -r .stdout)" "wrenn-init"
ux() { x "{\"cmd\":\"$1\",\"user\":\"user\"}" | jq -j '.stdout + .stderr'; }
is "user has passwordless sudo" "$(ux 'sudo -n id -un')" "root"
has "curl" "$(ux 'curl --version | head -1')" "curl 7."
has "git" "$(ux 'git --version')" "git version 2."
has "pip (python3-pip)" "$(ux 'pip --version')" "python 3.11"
is "python is python3" "$(ux 'python -c \"import sys; print(sys.version_info[0])\"')" "3"
has "node" "$(ux 'node -e \"console.log(process.version)\"')" "v18."
has "npm" "$(ux 'npm --version 2>&1')" "9."
is "DELETE -> 204" "$(code -X DELETE "${H[@]}" "$API/sandboxes/$ID")" 204
[ $fail -eq 0 ]
