// The E2B SDK flows, run once per SDK version (latest.test.mjs, v24.test.mjs).
// Only E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY configure the SDK; WRENN_E2B_TEMPLATE picks
// the template (default "base").
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'

const TEMPLATE = process.env.WRENN_E2B_TEMPLATE || 'base'
const OP_TIMEOUT = 180_000 // per test: TCG microVMs are slow
const SANDBOX_TTL_MS = 600_000

function requireEnv() {
  const missing = ['E2B_API_URL', 'E2B_SANDBOX_URL', 'E2B_API_KEY'].filter((v) => !process.env[v])
  if (missing.length) throw new Error(`set ${missing.join(', ')} (see tests/e2b/run.sh)`)
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Snapshots and fork (issue 7; through the control plane, issue 15): a server that does not
// implement them answers 501 naming the route, and the test is reported as skipped with the
// server's message (never as passed).
async function orSkip501(t, promise) {
  try {
    return await promise
  } catch (e) {
    if (/^501\b/.test(String(e?.message)) || e?.status === 501) {
      t.skip(`server answers 501 (not implemented there yet): ${e.message}`)
      return undefined
    }
    throw e
  }
}

async function until(what, fn, ms = 30_000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

// Sandbox.list() is a paginator in SDK 2.x; collect every page.
async function listAll(Sandbox, opts) {
  const p = Sandbox.list(opts)
  if (Array.isArray(p) || typeof p.then === 'function') return await p
  const out = []
  while (p.hasNext) out.push(...(await p.nextItems()))
  return out
}

export function e2bSuite(label, { Sandbox, CommandExitError }) {
  describe(`e2b ${label}`, { timeout: 1_800_000 }, () => {
    const created = new Set()
    const runId = `${label}-${process.pid}-${Date.now()}`
    let sbx

    const create = async (template = TEMPLATE, opts = {}) => {
      const s = await Sandbox.create(template, {
        timeoutMs: SANDBOX_TTL_MS,
        metadata: { suite: runId },
        ...opts,
      })
      created.add(s.sandboxId)
      return s
    }

    before(async () => {
      requireEnv()
    })

    after(async () => {
      for (const id of created) {
        try {
          await Sandbox.kill(id)
        } catch {
          /* already gone */
        }
      }
    })

    it('Sandbox.create', { timeout: OP_TIMEOUT }, async () => {
      sbx = await create()
      assert.equal(typeof sbx.sandboxId, 'string')
      assert.ok(sbx.sandboxId.length > 0)
      // the reply's domain: the proxy listens on loopback, so hosts are <port>-<id>.localhost:<port>
      const px = new URL(process.env.E2B_SANDBOX_URL)
      assert.equal(sbx.getHost(3000), `3000-${sbx.sandboxId}.localhost:${px.port}`)
      assert.equal(await sbx.isRunning(), true)
    })

    it('commands.run foreground, exit codes, envs and cwd', { timeout: OP_TIMEOUT }, async () => {
      const r = await sbx.commands.run('echo hello')
      assert.equal(r.exitCode, 0)
      assert.equal(r.stdout, 'hello\n')
      const e = await sbx.commands.run('cd /tmp && pwd && echo "$FOO"', { envs: { FOO: 'bar' } })
      assert.equal(e.stdout, '/tmp\nbar\n')
      const w = await sbx.commands.run('pwd', { cwd: '/tmp' })
      assert.equal(w.stdout.trim(), '/tmp')
      await assert.rejects(sbx.commands.run('echo to-err >&2; exit 3'), (err) => {
        assert.ok(err instanceof CommandExitError, `got ${err}`)
        assert.equal(err.exitCode, 3)
        assert.equal(err.stderr, 'to-err\n')
        return true
      })
    })

    it('commands.run streaming callbacks', { timeout: OP_TIMEOUT }, async () => {
      const out = []
      const err = []
      const r = await sbx.commands.run('for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.1; done', {
        onStdout: (d) => out.push(d),
        onStderr: (d) => err.push(d),
      })
      assert.equal(r.exitCode, 0)
      assert.equal(out.join(''), 'out1\nout2\nout3\n')
      assert.equal(err.join(''), 'err1\nerr2\nerr3\n')
      assert.ok(out.length >= 1)
    })

    it('commands.run background + wait', { timeout: OP_TIMEOUT }, async () => {
      const t0 = Date.now()
      const h = await sbx.commands.run('sleep 1; echo done', { background: true })
      assert.ok(h.pid > 0)
      assert.ok(Date.now() - t0 < 60_000)
      const r = await h.wait()
      assert.equal(r.exitCode, 0)
      assert.equal(r.stdout, 'done\n')
    })

    it('commands stdin via sendStdin', { timeout: OP_TIMEOUT }, async () => {
      const h = await sbx.commands.run('head -n 1', { background: true, stdin: true })
      await sbx.commands.sendStdin(h.pid, 'from-stdin\n')
      const r = await h.wait()
      assert.equal(r.stdout, 'from-stdin\n')
    })

    it('files write / read / list', { timeout: OP_TIMEOUT }, async () => {
      const dir = `/tmp/e2b-${process.pid}`
      await sbx.files.write(`${dir}/a.txt`, 'hello file')
      assert.equal(await sbx.files.read(`${dir}/a.txt`), 'hello file')
      const bin = new Uint8Array(256).map((_, i) => i)
      await sbx.files.write(`${dir}/b.bin`, bin)
      const back = await sbx.files.read(`${dir}/b.bin`, { format: 'bytes' })
      assert.deepEqual(Buffer.from(back), Buffer.from(bin))
      const entries = await sbx.files.list(dir)
      const names = entries.map((e) => e.name).sort()
      assert.deepEqual(names, ['a.txt', 'b.bin'])
      const a = entries.find((e) => e.name === 'a.txt')
      assert.equal(a.type, 'file')
      assert.equal(a.path, `${dir}/a.txt`)
      assert.equal(await sbx.files.exists(`${dir}/nope`), false)
      // the file is visible to processes
      const r = await sbx.commands.run(`cat ${dir}/a.txt`)
      assert.equal(r.stdout, 'hello file')
      // file metadata (envd >= 0.6.2): keys lowercased, returned by getInfo and list, replaced by
      // the next upload
      const w = await sbx.files.write(`${dir}/m.txt`, 'meta', { metadata: { Owner: 'suite', kind: 'x' } })
      assert.deepEqual(w.metadata, { owner: 'suite', kind: 'x' })
      assert.deepEqual((await sbx.files.getInfo(`${dir}/m.txt`)).metadata, { owner: 'suite', kind: 'x' })
      await sbx.files.write(`${dir}/m.txt`, 'meta2', { metadata: { kind: 'y' } })
      const listed = (await sbx.files.list(dir)).find((e) => e.name === 'm.txt')
      assert.deepEqual(listed.metadata, { kind: 'y' })
      await sbx.files.remove(`${dir}/m.txt`)
    })

    it('pty create + sendInput + output', { timeout: OP_TIMEOUT }, async () => {
      let out = ''
      const dec = new TextDecoder()
      const h = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => (out += dec.decode(d)) })
      await sbx.pty.sendInput(h.pid, new TextEncoder().encode('echo pty-$((6*7))\n'))
      await until('pty output', () => out.includes('pty-42'))
      await sbx.pty.resize(h.pid, { cols: 100, rows: 30 })
      await sbx.pty.sendInput(h.pid, new TextEncoder().encode('stty size\n'))
      await until('resized pty', () => out.includes('30 100'))
      await sbx.pty.kill(h.pid)
    })

    it('network.maskRequestHost: the Host a sandbox port sees', { timeout: OP_TIMEOUT }, async () => {
      const s = await create(TEMPLATE, { network: { maskRequestHost: '${PORT}-masked.example' } })
      assert.equal((await s.getInfo()).network?.maskRequestHost, '${PORT}-masked.example')
      // a listener that records the request it gets (busybox nc in minimal, python3 in base)
      await s.commands.run(
        'if command -v nc >/dev/null; then nc -l -p 8080 >/tmp/req; else python3 -c "import socket; l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind((\'\', 8080)); l.listen(1); c=l.accept()[0]; open(\'/tmp/req\', \'wb\').write(c.recv(65536))"; fi',
        { background: true },
      )
      const px = process.env.E2B_SANDBOX_URL
      let got = ''
      for (let i = 0; i < 40 && !/Host:/i.test(got); i++) {
        await fetch(px, {
          headers: { 'E2b-Sandbox-Id': s.sandboxId, 'E2b-Sandbox-Port': '8080' },
          signal: AbortSignal.timeout(1500),
        }).catch(() => {})
        got = await s.files.read('/tmp/req').catch(() => '')
      }
      assert.match(got, /^Host: 8080-masked\.example\r?$/m)
      await s.kill()
      created.delete(s.sandboxId)
    })

    it('Sandbox.list', { timeout: OP_TIMEOUT }, async () => {
      const all = await listAll(Sandbox, { query: { metadata: { suite: runId } } })
      const ids = all.map((s) => s.sandboxId)
      assert.ok(ids.includes(sbx.sandboxId), `list ${JSON.stringify(ids)} lacks ${sbx.sandboxId}`)
      const mine = all.find((s) => s.sandboxId === sbx.sandboxId)
      assert.equal(mine.state, 'running')
      assert.equal(mine.metadata.suite, runId)
      // startedAfter and order go to GET /v2/sandboxes (honoured, not ignored)
      const later = await listAll(Sandbox, { query: { metadata: { suite: runId }, startedAfter: new Date(Date.now() + 3_600_000) } })
      assert.equal(later.length, 0)
      const since = await listAll(Sandbox, {
        query: { metadata: { suite: runId }, startedAfter: new Date(Date.now() - 3_600_000) },
        order: 'asc',
      })
      assert.ok(since.some((s) => s.sandboxId === sbx.sandboxId))
    })

    it('getInfo and setTimeout', { timeout: OP_TIMEOUT }, async () => {
      const info = await sbx.getInfo()
      assert.equal(info.sandboxId, sbx.sandboxId)
      assert.equal(info.state, 'running')
      assert.ok(info.cpuCount >= 1)
      assert.ok(info.memoryMB >= 128)
      assert.ok(info.startedAt instanceof Date)
      await sbx.setTimeout(90_000)
      const after = await sbx.getInfo()
      const left = after.endAt.getTime() - Date.now()
      assert.ok(left > 30_000 && left < 150_000, `endAt is ${left} ms away, want ~90 s`)
      await sbx.setTimeout(SANDBOX_TTL_MS)
    })

    it('getMetrics with start/end (sampled every 5 s by the agent)', { timeout: OP_TIMEOUT }, async () => {
      let all = await sbx.getMetrics()
      for (let i = 0; i < 20 && all.length === 0; i++) { // a young sandbox: the first sample
        await new Promise((r) => setTimeout(r, 500))
        all = await sbx.getMetrics()
      }
      assert.ok(all.length >= 1, 'no metrics point')
      const last = all[all.length - 1]
      assert.ok(last.timestamp instanceof Date && last.cpuCount >= 1 && last.memTotal > 0)
      assert.ok(last.memUsed > 0 && last.memUsed <= last.memTotal && last.cpuUsedPct >= 0)
      const one = await sbx.getMetrics({ start: last.timestamp, end: last.timestamp })
      assert.deepEqual(one.map((m) => m.timestamp.getTime()), [last.timestamp.getTime()])
      const later = new Date(last.timestamp.getTime() + 2_000)
      assert.equal((await sbx.getMetrics({ start: later, end: later })).length, 0)
    })

    // --- issue 7: pause / resume / snapshots / fork -----------------------------------------

    it('pause and connect (resume) keep files', { timeout: OP_TIMEOUT * 2 }, async (t) => {
      if (typeof sbx.pause !== 'function') return t.skip('SDK has no pause()')
      await sbx.files.write('/tmp/before-pause', 'kept')
      assert.equal(await sbx.pause(), true)
      const info = await Sandbox.getInfo(sbx.sandboxId)
      assert.equal(info.state, 'paused')
      // the proxy answers 502 for a paused sandbox, as E2B's: isRunning() is false, no throw
      assert.equal(await sbx.isRunning(), false)
      const again = await Sandbox.connect(sbx.sandboxId, { timeoutMs: SANDBOX_TTL_MS })
      assert.equal((await again.getInfo()).state, 'running')
      assert.equal(await again.files.read('/tmp/before-pause'), 'kept')
      assert.equal((await again.commands.run('echo resumed')).stdout, 'resumed\n')
      sbx = again
    })

    it('a background process keeps running across pause/connect', { timeout: OP_TIMEOUT * 2 }, async (t) => {
      if (typeof sbx.pause !== 'function') return t.skip('SDK has no pause()')
      // A counter, not `date +%N` (busybox has no %N); `trap "" HUP` instead of nohup (not in
      // every image).
      await sbx.commands.run(
        `sh -c 'trap "" HUP; echo $$ > /tmp/loop.pid; i=0; while true; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.2; done' ` +
          '</dev/null >/dev/null 2>&1 &'
      )
      const tick = async (s) => Number((await s.commands.run('cat /tmp/tick 2>/dev/null || echo 0')).stdout)
      const t0 = await tick(sbx)
      await sleep(1200)
      if ((await tick(sbx)) === t0) {
        // The loop died with the command that started it, before any pause: not a pause bug.
        return t.skip('envd kills background children of a finished command (known bug)')
      }
      assert.equal(await sbx.pause(), true)
      const again = await Sandbox.connect(sbx.sandboxId, { timeoutMs: SANDBOX_TTL_MS })
      const t1 = await tick(again)
      await sleep(1200)
      const t2 = await tick(again)
      assert.ok(t2 > t1, `background loop stopped across pause/resume (${t1} -> ${t2})`)
      await again.commands.run('kill $(cat /tmp/loop.pid)')
      sbx = again
    })

    it('lifecycle onTimeout pause: paused at its timeout, listed, connect resumes it with its files', { timeout: OP_TIMEOUT * 2 }, async () => {
      const s = await create(TEMPLATE, { timeoutMs: 20_000, lifecycle: { onTimeout: 'pause', autoResume: false } })
      await s.files.write('/tmp/before-timeout', 'kept')
      const info = await s.getInfo()
      assert.equal(info.lifecycle?.onTimeout, 'pause')
      assert.equal(info.lifecycle?.autoResume, false)
      await until('the timeout to pause it', async () => (await Sandbox.getInfo(s.sandboxId)).state === 'paused', 90_000)
      const listed = await listAll(Sandbox, { query: { state: ['paused'], metadata: { suite: runId } } })
      assert.ok(listed.some((x) => x.sandboxId === s.sandboxId && x.state === 'paused'), 'paused sandbox not listed')
      // no autoResume: traffic does not wake it, and the proxy answers 502 (isRunning false)
      assert.equal(await s.isRunning(), false)
      const again = await Sandbox.connect(s.sandboxId, { timeoutMs: SANDBOX_TTL_MS })
      assert.equal((await again.getInfo()).state, 'running')
      assert.equal(await again.files.read('/tmp/before-timeout'), 'kept')
      await again.kill()
      created.delete(s.sandboxId)
    })

    it('lifecycle autoResume: traffic through the proxy resumes it with its process; an expired sandbox is not running', { timeout: OP_TIMEOUT * 2 }, async () => {
      const s = await create(TEMPLATE, { timeoutMs: 15_000, lifecycle: { onTimeout: 'pause', autoResume: true } })
      const bg = await s.commands.run('sleep 600', { background: true })
      await until('the timeout to pause it', async () => (await Sandbox.getInfo(s.sandboxId)).state === 'paused', 90_000)
      // isRunning() is a GET /health through the proxy: that traffic resumes the sandbox
      assert.equal(await s.isRunning(), true)
      assert.equal((await Sandbox.getInfo(s.sandboxId)).state, 'running')
      assert.ok((await s.commands.list()).some((p) => p.pid === bg.pid), 'the background process survived')
      await s.kill()
      created.delete(s.sandboxId)
      // a sandbox that expires (onTimeout kill, the default) is gone: isRunning() false, no throw
      const e = await create(TEMPLATE, { timeoutMs: 5_000 })
      await until('the sandbox to expire', async () => !(await e.isRunning()), 90_000)
      created.delete(e.sandboxId)
    })

    it('createSnapshot, create from it, listSnapshots', { timeout: OP_TIMEOUT * 2 }, async (t) => {
      if (typeof sbx.createSnapshot !== 'function') return t.skip('SDK has no createSnapshot()')
      await sbx.files.write('/tmp/in-snapshot', 'snap')
      const snap = await orSkip501(t, sbx.createSnapshot())
      if (snap === undefined) return
      assert.ok(snap.snapshotId)
      // the source keeps running
      assert.equal((await sbx.commands.run('echo alive')).stdout, 'alive\n')
      const child = await create(snap.snapshotId)
      assert.equal(await child.files.read('/tmp/in-snapshot'), 'snap')
      if (typeof Sandbox.listSnapshots === 'function') {
        const p = Sandbox.listSnapshots({ sandboxId: sbx.sandboxId })
        const items = []
        while (p.hasNext) items.push(...(await p.nextItems()))
        assert.ok(items.some((s) => s.snapshotId === snap.snapshotId))
      }
      await child.kill()
      created.delete(child.sandboxId)
      if (typeof Sandbox.deleteSnapshot === 'function') assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), true)
    })

    it('fork gives independent sandboxes', { timeout: OP_TIMEOUT * 2 }, async (t) => {
      if (typeof sbx.fork !== 'function') return t.skip('SDK has no fork()')
      await sbx.files.write('/tmp/forked', 'parent')
      const forks = await orSkip501(t, sbx.fork({ count: 2, timeoutMs: SANDBOX_TTL_MS }))
      if (forks === undefined) return
      assert.equal(forks.length, 2)
      for (const f of forks) {
        assert.ok(!(f instanceof Error), `fork failed: ${f}`)
        created.add(f.sandboxId)
        assert.notEqual(f.sandboxId, sbx.sandboxId)
        assert.equal(await f.files.read('/tmp/forked'), 'parent')
      }
      await forks[0].files.write('/tmp/forked', 'child0')
      assert.equal(await forks[1].files.read('/tmp/forked'), 'parent')
      assert.equal(await sbx.files.read('/tmp/forked'), 'parent')
      for (const f of forks) {
        await f.kill()
        created.delete(f.sandboxId)
      }
    })

    it('kill', { timeout: OP_TIMEOUT }, async () => {
      // a command streaming while its sandbox is killed: the stream is cut (not ended cleanly),
      // so the SDK probes health, gets the proxy's 502 and reports the sandbox killed
      const h = await sbx.commands.run('sleep 300', { background: true })
      const waited = h.wait().then(
        () => assert.fail('wait() resolved after the sandbox was killed'),
        (e) => e,
      )
      await sleep(500)
      await sbx.kill()
      const err = await waited
      assert.match(String(err.message), /killed or reached its end of life/)
      created.delete(sbx.sandboxId)
      assert.equal(await sbx.isRunning(), false)
      assert.equal(await Sandbox.kill(sbx.sandboxId), false)
      await assert.rejects(Sandbox.getInfo(sbx.sandboxId))
    })
  })
}
