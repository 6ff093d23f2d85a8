# Shared by the raw-QEMU guest boot test and benchmark (source it after setting ns and
# scratch): a private netns with the seed's tap0, one QEMU child in $qpid, cleanup on exit.
qpid=""
stop_vm() { # TERM, then KILL after 5 s; always reaped
	[ -n "$qpid" ] || return 0
	kill "$qpid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$qpid" 2>/dev/null
	wait "$qpid" 2>/dev/null
	qpid=""
}
guest_vm_cleanup() {
	stop_vm
	ip netns del "$ns" 2>/dev/null
	rm -rf "$scratch"
}
trap guest_vm_cleanup EXIT
trap 'exit 1' INT TERM

make_netns() { # tap0 169.254.0.22/30 inside $ns, as the seed's network
	ip netns add "$ns" &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" tuntap add dev tap0 mode tap &&
		ip -n "$ns" addr add 169.254.0.22/30 dev tap0 &&
		ip -n "$ns" link set tap0 up
}
