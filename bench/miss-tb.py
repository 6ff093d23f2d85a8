#!/usr/bin/env python3
"""Where a pool miss's guest time goes, counted instead of timed (issue 13 item 2).

A restored guest runs code its fresh QEMU process has not translated yet; the number of
translation blocks (TBs) QEMU makes for a step does not depend on the host's load, unlike its
time.  This boots the minimal image in raw QEMU (TCG, the backend's CPU model and kernel
arguments, 512 MiB), sends POST /init as a boot-path create does, snapshots it to a file, then
restores it into a fresh QEMU ROUNDS times and prints, for each step, the TBs made (HMP
`info jit`) and the request's wall time:
  BENCH miss_tb_<step> <median TBs> tbs ms=<median ms> n=<rounds>
Steps (STEPS, in order): idle (0.3 s, no request: the guest's own wake-up after the restore),
health (GET /health), init (POST /init as the runtime sends it), bad (Process/Start of a missing
binary: envd's RPC, fork and the failed exec), echo1 (Process/Start /bin/echo), echo2 (again).
Env: WRENN_GUEST (build/guest), WRENN_BUILD (build/release, for wrenn-vmctl tcg-kernel-args),
ROUNDS (3), STEPS, IMG (a disk image instead of <guest>/minimal.ext4). Root, qemu-system-x86_64.
SYMBOLS=N: the first restore also logs every block it translates (QEMU -d in_asm; times are then
meaningless, counts are not) and each step prints its blocks' share in the guest kernel and in
user space, and its N busiest functions (each block's first address in vmlinux's or envd's
symbol table, nm): "# <step> kernel 83% user 17%: <count> <function> ...".  User blocks are
named by envd's symbols: envd is static and not PIE, and so is the minimal image's busybox, at
the same addresses, so a command's blocks there carry envd's names (told apart by process only).
ENVD: the envd binary inside the image (<guest>/../static/bin/envd).
"""
import bisect
import collections
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
GUEST = os.environ.get('WRENN_GUEST', 'build/guest')
IMG = os.environ.get('IMG', f'{GUEST}/minimal.ext4')
VMCTL = os.path.join(os.environ.get('WRENN_BUILD', 'build/release'), 'bin/wrenn-vmctl')
SEED = ('console=ttyS0 root=/dev/vda rw reboot=k panic=1 quiet loglevel=1 init_on_free=1 '
        'clocksource=kvm-clock init=/usr/local/bin/wrenn-init '
        'ip=169.254.0.21::169.254.0.22:255.255.255.252:capsule:eth0:off')
GUEST_IP, PORT = '169.254.0.21', 49983
NS = f'wrenn-mtb-{os.getpid()}'


def sh(*a, **kw):
    return subprocess.run(list(a), check=True, **kw)


def kernel_args():
    if os.access(VMCTL, os.X_OK):
        return subprocess.run([VMCTL, 'tcg-kernel-args'], capture_output=True, text=True,
                              check=True).stdout.strip()
    with open('src/vm/vmm.h') as f:
        return re.search(r'#define VMM_TCG_KERNEL_ARGS "(.*)"', f.read()).group(1)


class Qemu:
    def __init__(self, work, extra):
        self.mon = f'{work}/mon'
        if os.path.exists(self.mon):
            os.unlink(self.mon)
        cpu = os.environ.get('WRENN_TCG_CPU', 'Nehalem')
        self.p = subprocess.Popen(
            ['ip', 'netns', 'exec', NS, 'qemu-system-x86_64', '-M',
             'microvm,x-option-roms=off,isa-serial=on,acpi=off', '-cpu', cpu, '-accel',
             'tcg,tb-size=128', '-m', '512', '-smp', '1', '-nodefaults', '-no-user-config',
             '-nographic', '-display', 'none', '-no-reboot', '-serial', f'file:{work}/serial.log',
             '-drive', f'id=root,file={work}/disk.ext4,format=raw,if=none,cache=writeback',
             '-device', 'virtio-blk-device,drive=root', '-netdev',
             'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device',
             'virtio-net-device,netdev=n0,mac=02:FC:00:00:00:05', '-device', 'virtio-rng-device',
             '-monitor', f'unix:{self.mon},server=on,wait=off'] + extra,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.s = None
        deadline = time.time() + 30
        while self.s is None:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.mon)
                self.s = s
            except OSError:
                if self.p.poll() is not None or time.time() > deadline:
                    raise SystemExit('miss-tb: QEMU did not start')
                time.sleep(0.02)
        self.hmp('')

    def hmp(self, cmd):
        self.s.sendall(cmd.encode() + b'\n')
        buf = b''
        while not buf.endswith(b'(qemu) '):
            d = self.s.recv(65536)
            if not d:
                raise SystemExit('miss-tb: monitor closed')
            buf += d
        return buf.decode(errors='replace')

    def tbs(self):
        return int(re.search(r'TB count\s+(\d+)', self.hmp('info jit')).group(1))

    def stop(self):
        self.p.kill()
        self.p.wait()


def http(method, path, body=b'', ctype=None, timeout=20.0):
    """One request from inside the namespace; (status, ms of connect .. close)."""
    code = ('import socket,sys,time\n'
            'm,p,ct,to=sys.argv[1],sys.argv[2],sys.argv[3],float(sys.argv[4])\n'
            'b=sys.stdin.buffer.read();t=time.time()\n'
            f's=socket.create_connection(("{GUEST_IP}",{PORT}),timeout=to)\n'
            'h=f"{m} {p} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\nContent-Length: {len(b)}\\r\\n"\n'
            'h+=f"Content-Type: {ct}\\r\\n" if ct else ""\n'
            's.sendall(h.encode()+b"\\r\\n"+b);o=b""\n'
            'while True:\n d=s.recv(65536)\n if not d: break\n o+=d\n'
            'print(o.split(b" ",2)[1].decode() if o.startswith(b"HTTP") else "???", (time.time()-t)*1000)\n')
    r = subprocess.run(['ip', 'netns', 'exec', NS, sys.executable, '-c', code, method, path,
                        ctype or '', str(timeout)], input=body, capture_output=True)
    if r.returncode:
        return None, None
    st, ms = r.stdout.split()
    return st.decode(), float(ms)


def init_body(sid):
    return json.dumps({'timestamp': time.strftime('%Y-%m-%dT%H:%M:%S.000000000Z', time.gmtime()),
                       'sandboxId': sid, 'templateId': 'minimal', 'defaultUser': 'user',
                       'defaultWorkdir': '/home/user', 'envVars': {}, 'accessToken': '',
                       'entropy': os.urandom(64).hex()}).encode()


def start_body(cmd, args):
    j = json.dumps({'process': {'cmd': cmd, 'args': args}}).encode()
    return struct.pack('>BI', 0, len(j)) + j


def symbols(path):
    """(sorted addresses, names) of the text symbols of an ELF file, by nm."""
    out = subprocess.run(['nm', '-n', path], capture_output=True, text=True, check=True).stdout
    rows = [(int(a, 16), n) for a, t, n in (line.split() for line in out.splitlines()
                                            if len(line.split()) == 3) if t in 'tTwW']
    return [a for a, _ in rows], [n for _, n in rows]


def block_starts(log, lo, hi):
    """First guest address of each block QEMU logged (-d in_asm) between two file offsets."""
    with open(log, 'rb') as f:
        f.seek(lo)
        text = f.read(hi - lo).decode(errors='replace')
    for block in text.split('IN:')[1:]:
        for line in block.splitlines():
            if line.startswith('0x'):
                yield int(line.split(':')[0], 16)
                break


def print_symbols(log, marks, top):
    kern = symbols(f'{GUEST}/vmlinux')
    envd_path = os.environ.get('ENVD', f'{GUEST}/../static/bin/envd')
    envd = symbols(envd_path) if os.access(envd_path, os.R_OK) else ([], [])
    ends = [off for _, off in marks[1:]] + [os.path.getsize(log)]
    for (step, lo), hi in zip(marks, ends):
        where = collections.Counter()
        funcs = collections.Counter()
        for a in block_starts(log, lo, hi):
            table, part = (kern, 'kernel') if a >= 0xffffffff80000000 else (envd, 'user')
            k = bisect.bisect_right(table[0], a) - 1
            where[part] += 1
            # past envd's last symbol by more than 1 MiB: a dynamic command's ld.so or libc
            inside = k >= 0 and (part == 'kernel' or a <= table[0][-1] + (1 << 20))
            funcs[table[1][k] if inside else '(user, not envd)'] += 1
        total = sum(where.values()) or 1
        shares = ' '.join(f'{p} {100 * where[p] // total}%' for p in ('kernel', 'user'))
        busiest = ' '.join(f'{n} {f}' for f, n in funcs.most_common(top))
        print(f'# {step} {shares}: {busiest}', flush=True)


def main():
    if os.geteuid() != 0:
        raise SystemExit('miss-tb: needs root (netns, TAP)')
    steps = os.environ.get('STEPS', 'idle health init bad echo1 echo2').split()
    rounds = int(os.environ.get('ROUNDS', '3'))
    work = tempfile.mkdtemp(prefix='wrenn-mtb.')
    sh('ip', 'netns', 'add', NS)
    q = None
    try:
        for c in (['link', 'set', 'lo', 'up'], ['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap'],
                  ['addr', 'add', '169.254.0.22/30', 'dev', 'tap0'], ['link', 'set', 'tap0', 'up']):
            sh('ip', '-n', NS, *c)
        sh('cp', '--sparse=always', IMG, f'{work}/disk.ext4')
        args = f'{SEED} {kernel_args()}'
        print(f'# kernel command line: {args}', flush=True)
        q = Qemu(work, ['-kernel', f'{GUEST}/vmlinux', '-append', args])
        t0 = time.time()
        while http('GET', '/health', timeout=1.0)[0] != '204':
            if time.time() - t0 > 120:
                raise SystemExit('miss-tb: envd did not answer within 120 s')
            time.sleep(0.2)
        # as a boot-path create (a template build) leaves it: /init sent before the snapshot
        if http('POST', '/init', init_body('cl-template'), 'application/json')[0] != '204':
            raise SystemExit('miss-tb: /init before the snapshot failed')
        time.sleep(0.5)
        q.hmp('stop')
        q.hmp(f'migrate "exec:cat > {work}/state"')
        while 'completed' not in q.hmp('info migrate'):
            time.sleep(0.05)
        q.stop()
        q = None
        catalog = {
            'health': lambda: http('GET', '/health'),
            'init': lambda: http('POST', '/init', init_body('cl-miss'), 'application/json'),
            'bad': lambda: http('POST', '/process.Process/Start', start_body('/nonexistent', []),
                                'application/connect+json'),
            'echo1': lambda: http('POST', '/process.Process/Start', start_body('/bin/echo', ['hi']),
                                  'application/connect+json'),
        }
        catalog['echo2'] = catalog['echo1']
        res = {s: ([], []) for s in steps}
        top = int(os.environ.get('SYMBOLS', '0'))
        asm, marks = f'{work}/asm.log', []
        for rnd in range(rounds):
            trace = ['-d', 'in_asm', '-D', asm] if top and rnd == 0 else []
            q = Qemu(work, ['-incoming', 'defer'] + trace)
            q.hmp(f'migrate_incoming "exec:cat {work}/state"')
            while 'inmigrate' in q.hmp('info status'):
                time.sleep(0.01)
            q.hmp('cont')
            line = []
            for s in steps:
                a = q.tbs()
                if trace:
                    marks.append((s, os.path.getsize(asm) if os.path.exists(asm) else 0))
                if s == 'idle':
                    time.sleep(0.3)
                    st, ms = '-', 0.0
                else:
                    st, ms = catalog[s]()
                n = q.tbs() - a
                res[s][0].append(n)
                res[s][1].append(ms or 0.0)
                line.append(f'{s} {n} TBs {ms or 0:.1f} ms ({st})')
            print(f'# round {rnd}: ' + ', '.join(line), flush=True)
            q.stop()
            q = None
            if trace:
                print_symbols(asm, marks, top)
        for s in steps:
            print(f'BENCH miss_tb_{s} {statistics.median(res[s][0]):.0f} tbs '
                  f'ms={statistics.median(res[s][1]):.1f} n={rounds}')
    finally:
        if q:
            q.stop()
        subprocess.run(['ip', 'netns', 'del', NS], check=False)
        subprocess.run(['rm', '-rf', work], check=False)


if __name__ == '__main__':
    main()
