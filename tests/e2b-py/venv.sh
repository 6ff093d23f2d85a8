# Sourced by tests/e2b-py/run.sh and tests/integration/71-e2b-py.t.
# e2b_py_venv NAME: print the path of a venv holding tests/e2b-py/requirements-NAME.txt exactly
# (every package pinned, installed with --no-deps), made with `python3 -m venv` under
# WRENN_E2B_PY_CACHE (default ~/.cache/wrenn/e2b-py) and remade only when the requirements
# file or the python changes.  Returns 1 (pip's last line on stderr) when it cannot be made.
e2b_py_venv() {
	local req dir want log
	req=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/requirements-$1.txt
	dir=${WRENN_E2B_PY_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/wrenn/e2b-py}/$1
	want="$(sha256sum "$req" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
	if [ "$(cat "$dir/.wrenn-req" 2>/dev/null)" != "$want" ]; then
		log=$(mktemp /tmp/wrenn-e2b-py-pip.XXXXXX)
		rm -rf "$dir"
		if ! { python3 -m venv "$dir" >"$log" 2>&1 &&
			timeout 300 "$dir/bin/pip" install -q --no-deps --disable-pip-version-check \
				-r "$req" >>"$log" 2>&1; }; then
			tail -1 "$log" >&2
			rm -rf "$dir" "$log"
			return 1
		fi
		rm -f "$log"
		echo "$want" >"$dir/.wrenn-req"
	fi
	echo "$dir"
}
