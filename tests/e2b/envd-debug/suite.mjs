// The unmodified npm e2b SDK in debug mode (E2B_DEBUG=true) against envd alone: the SDK makes no
// control-plane call and talks to http://localhost:49983 directly (Sandbox.create/connect just
// build a handle with id debug_sandbox_id and envd version 99.99.99, so every version gate is open).
// envd runs on this host, so what the SDK reports is checked against the host's own view
// (node:fs) wherever that is possible.
//
// Environment (tests/integration/23-envd-sdk.t sets it up):
//   E2B_DEBUG=true
//   WRENN_ENVD_SDK_DIR   scratch directory (absolute), writable by the test user
//   WRENN_ENVD_SDK_HOME  home of the user `user` in envd's scratch passwd (WRENN_ENVD_PASSWD)
//   WRENN_ENVD_SDK_UID   uid of that user
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'

const ENVD = 'http://localhost:49983'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function until(what, fn, ms = 10_000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

function requireEnv() {
  if (process.env.E2B_DEBUG !== 'true') throw new Error('E2B_DEBUG=true is required (debug mode)')
  const missing = ['WRENN_ENVD_SDK_DIR', 'WRENN_ENVD_SDK_HOME', 'WRENN_ENVD_SDK_UID'].filter(
    (v) => !process.env[v],
  )
  if (missing.length) throw new Error(`set ${missing.join(', ')} (see tests/integration/23-envd-sdk.t)`)
}

const dec = new TextDecoder()

export function envdSuite(label, { Sandbox, CommandExitError, FilesystemEventType }) {
  describe(`envd-sdk ${label}`, { timeout: 120_000 }, () => {
    let sbx, DIR, HOME, UID

    before(async () => {
      requireEnv()
      HOME = process.env.WRENN_ENVD_SDK_HOME
      UID = Number(process.env.WRENN_ENVD_SDK_UID)
      DIR = fs.mkdtempSync(path.join(process.env.WRENN_ENVD_SDK_DIR, `${label.split(' ')[0]}-`))
      fs.chownSync(DIR, UID, UID)
      const h = await fetch(`${ENVD}/health`, { signal: AbortSignal.timeout(5000) })
      assert.equal(h.status, 204, 'envd /health')
      // What the control plane does at create time in a real sandbox: the template's default
      // user.  Debug mode never calls /init, so without this envd would run everything as itself.
      const r = await fetch(`${ENVD}/init`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ defaultUser: 'user' }),
        signal: AbortSignal.timeout(5000),
      })
      assert.equal(r.status, 204, '/init defaultUser')
      sbx = await Sandbox.create()
    })

    after(async () => {
      await sbx?.kill()
    })

    it('debug mode: no control plane, envd at localhost:49983', async () => {
      assert.equal(sbx.sandboxId, 'debug_sandbox_id')
      assert.equal(sbx.getHost(49983), 'localhost:49983')
      assert.equal(await sbx.isRunning(), true)
    })

    it('commands.run foreground: stdout, stderr, exit code 0', async () => {
      const r = await sbx.commands.run('echo hello; echo oops >&2; printf "no newline"')
      assert.equal(r.exitCode, 0)
      assert.equal(r.stdout, 'hello\nno newline')
      assert.equal(r.stderr, 'oops\n')
    })

    it('commands run as the default user from /init, or the requested one', async () => {
      // `user` exists only in envd's scratch passwd, so ask the environment, not `id -un`
      const r = await sbx.commands.run('echo "$USER"; id -u; id -g; echo "$HOME"; pwd')
      assert.equal(r.stdout, `user\n${UID}\n${UID}\n${HOME}\n${HOME}\n`)
      const root = await sbx.commands.run('echo "$USER"; id -u; echo "$HOME"', { user: 'root' })
      assert.equal(root.stdout, 'root\n0\n/root\n')
    })

    it('commands.run envs and cwd', async () => {
      const r = await sbx.commands.run('echo "$FOO|$BAR"; pwd', {
        envs: { FOO: 'foo value', BAR: 'x=y' },
        cwd: DIR,
      })
      assert.equal(r.stdout, `foo value|x=y\n${DIR}\n`)
      // a relative cwd resolves against the user's home
      fs.mkdirSync(path.join(HOME, 'work'), { recursive: true })
      const rel = await sbx.commands.run('pwd', { cwd: 'work' })
      assert.equal(rel.stdout, `${HOME}/work\n`)
    })

    it('non-zero exit throws CommandExitError with exit code and output', async () => {
      await assert.rejects(sbx.commands.run('echo partial; echo bad >&2; exit 3'), (e) => {
        assert.ok(e instanceof CommandExitError, `got ${e?.constructor?.name}: ${e?.message}`)
        assert.equal(e.exitCode, 3)
        assert.equal(e.stdout, 'partial\n')
        assert.equal(e.stderr, 'bad\n')
        return true
      })
    })

    // E2B's envd sets EndEvent.error to Go's cmd.Wait() error text whenever the exit is not
    // clean ("exit status 3", "signal: killed"); the SDK makes it CommandExitError.error and
    // .message.
    it(
      'CommandExitError.error/message carry the exit status text (EndEvent.error)',
      async () => {
        await assert.rejects(sbx.commands.run('exit 3'), (e) => {
          assert.equal(e.error, 'exit status 3')
          assert.equal(e.message, 'exit status 3')
          return true
        })
        const h = await sbx.commands.run('sleep 60', { background: true })
        await sbx.commands.kill(h.pid)
        await assert.rejects(h.wait(), (e) => {
          assert.equal(e.error, 'signal: killed')
          return true
        })
      },
    )

    it('streams output through onStdout/onStderr while the command runs', async () => {
      const out = [],
        err = []
      let firstAt = 0
      const t0 = Date.now()
      const r = await sbx.commands.run(
        'for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.3; done',
        {
          onStdout: (d) => {
            if (!firstAt) firstAt = Date.now()
            out.push(d)
          },
          onStderr: (d) => err.push(d),
        },
      )
      const total = Date.now() - t0
      assert.equal(out.join(''), 'out1\nout2\nout3\n')
      assert.equal(err.join(''), 'err1\nerr2\nerr3\n')
      assert.equal(r.stdout, 'out1\nout2\nout3\n')
      assert.ok(out.length >= 2, `output arrived in ${out.length} chunk(s), not streamed`)
      // the first line arrives long before the command ends (~0.9 s), i.e. it is not buffered
      assert.ok(firstAt - t0 < total - 400, `first chunk after ${firstAt - t0} ms of ${total} ms`)
    })

    it('stdin: sendStdin then closeStdin reaches the process', async () => {
      const h = await sbx.commands.run('cat; echo "[eof]"', { background: true, stdin: true })
      await sbx.commands.sendStdin(h.pid, 'line one\n')
      await h.sendStdin(new TextEncoder().encode('line two\n'))
      await sbx.commands.closeStdin(h.pid)
      const r = await h.wait()
      assert.equal(r.stdout, 'line one\nline two\n[eof]\n')
    })

    it('background command: list, connect by pid from a second handle, wait', async () => {
      const marker = path.join(DIR, 'go')
      const h = await sbx.commands.run(
        `echo started; while [ ! -e ${marker} ]; do sleep 0.05; done; echo finished; exit 7`,
        { background: true },
      )
      assert.ok(h.pid > 0)
      const listed = await sbx.commands.list()
      const me = listed.find((p) => p.pid === h.pid)
      assert.ok(me, `pid ${h.pid} not in commands.list(): ${JSON.stringify(listed)}`)
      assert.equal(me.cmd, '/bin/bash')
      await h.disconnect()
      // another SDK handle to the same (debug) sandbox, as Sandbox.connect(id) gives
      const other = await Sandbox.connect(sbx.sandboxId)
      const seen = []
      const c = await other.commands.connect(h.pid, { onStdout: (d) => seen.push(d) })
      fs.writeFileSync(marker, '')
      await assert.rejects(c.wait(), (e) => {
        assert.ok(e instanceof CommandExitError, `got ${e?.constructor?.name}: ${e?.message}`)
        assert.equal(e.exitCode, 7)
        // Connect replays nothing of the past output, the rest streams
        assert.match(e.stdout, /finished\n$/)
        return true
      })
      assert.match(seen.join(''), /finished\n/)
      await until('process gone from list', async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid))
    })

    it('commands.kill ends a background command (exit code -1)', async () => {
      const h = await sbx.commands.run('sleep 60', { background: true })
      assert.equal(await sbx.commands.kill(h.pid), true)
      await assert.rejects(h.wait(), (e) => {
        assert.ok(e instanceof CommandExitError, `got ${e?.constructor?.name}: ${e?.message}`)
        assert.equal(e.exitCode, -1, 'killed by a signal: exit code -1 as Go reports it')
        return true
      })
      assert.equal(await sbx.commands.kill(h.pid), false, 'killing a gone pid reports false')
      await assert.rejects(sbx.commands.connect(999_999_99), /not[ _]found/i)
    })

    it('pty: create, sendInput, resize, exit', async () => {
      const chunks = []
      const text = () => dec.decode(Buffer.concat(chunks.map((c) => Buffer.from(c))))
      const pty = await sbx.pty.create({
        cols: 80,
        rows: 24,
        envs: { PS1: '$ ', WRENN_PTY: 'yes' },
        onData: (d) => chunks.push(d),
      })
      assert.ok(pty.pid > 0)
      const enc = new TextEncoder()
      await sbx.pty.sendInput(pty.pid, enc.encode('echo "tty=$(tty) $WRENN_PTY"; stty size\n'))
      await until('stty size 24 80', () => /[\r\n]24 80\r\n/.test(text()))
      assert.match(text(), /tty=\/dev\/pts\/\d+ yes/)
      await sbx.pty.resize(pty.pid, { cols: 132, rows: 50 })
      await sbx.pty.sendInput(pty.pid, enc.encode('stty size\n'))
      await until('stty size 50 132 after resize', () => /[\r\n]50 132\r\n/.test(text()))
      await sbx.pty.sendInput(pty.pid, enc.encode('exit 0\n'))
      const r = await pty.wait()
      assert.equal(r.exitCode, 0)
    })

    it('pty: kill', async () => {
      const pty = await sbx.pty.create({ cols: 40, rows: 10, onData: () => {} })
      assert.equal(await sbx.pty.kill(pty.pid), true)
      await assert.rejects(pty.wait(), (e) => {
        assert.ok(e instanceof CommandExitError, `got ${e?.constructor?.name}: ${e?.message}`)
        assert.equal(e.exitCode, -1)
        return true
      })
      assert.ok(!(await sbx.commands.list()).some((p) => p.pid === pty.pid))
    })

    it('files: write, read (text, bytes, blob, stream), getInfo', async () => {
      const p = path.join(DIR, 'deep/er/hello.txt')
      const info = await sbx.files.write(p, 'hello, wörld\n')
      assert.equal(info.path, p)
      assert.equal(fs.readFileSync(p, 'utf8'), 'hello, wörld\n', 'the host sees the written file')
      assert.equal(fs.statSync(p).uid, UID, 'the file belongs to the default user')
      assert.equal(fs.statSync(path.dirname(p)).uid, UID, 'so do the created parents')
      assert.equal(await sbx.files.read(p), 'hello, wörld\n')
      const bytes = await sbx.files.read(p, { format: 'bytes' })
      assert.deepEqual(Buffer.from(bytes), Buffer.from('hello, wörld\n'))
      const blob = await sbx.files.read(p, { format: 'blob' })
      assert.equal(await blob.text(), 'hello, wörld\n')
      const st = await sbx.files.read(p, { format: 'stream' })
      const parts = []
      for await (const c of st) parts.push(Buffer.from(c))
      assert.equal(Buffer.concat(parts).toString(), 'hello, wörld\n')
      const gi = await sbx.files.getInfo(p)
      assert.equal(gi.name, 'hello.txt')
      assert.equal(gi.type, 'file')
      assert.equal(gi.size, Buffer.byteLength('hello, wörld\n'))
      assert.equal(gi.permissions, '-rw-r--r--')
      assert.equal(gi.mode, 0o644)
      assert.ok(Math.abs(gi.modifiedTime.getTime() - fs.statSync(p).mtimeMs) < 1000, 'modifiedTime')
      // owner names: envd reads them from /etc/passwd (not WRENN_ENVD_PASSWD), so use root's file
      const rp = path.join(DIR, 'root-owned.txt')
      await sbx.files.write(rp, 'r', { user: 'root' })
      const rgi = await sbx.files.getInfo(rp)
      assert.equal(rgi.owner, 'root')
      assert.equal(rgi.group, 'root')
      fs.symlinkSync('root-owned.txt', path.join(DIR, 'ln'))
      const lgi = await sbx.files.getInfo(path.join(DIR, 'ln'))
      assert.equal(lgi.type, 'symlink')
      assert.ok([rp, 'root-owned.txt'].includes(lgi.symlinkTarget), `symlinkTarget ${lgi.symlinkTarget}`)
      await assert.rejects(sbx.files.read(path.join(DIR, 'missing')), /not[ _]found|No such file/i)
    })

    it('files: binary round trip (1 MiB) and multi-file write', async () => {
      const data = crypto.randomBytes(1 << 20)
      const p = path.join(DIR, 'blob.bin')
      await sbx.files.write(p, data.buffer.slice(data.byteOffset, data.byteOffset + data.length))
      assert.ok(fs.readFileSync(p).equals(data), 'host copy equals the upload')
      const back = Buffer.from(await sbx.files.read(p, { format: 'bytes' }))
      assert.ok(back.equals(data), 'download equals the upload')
      const many = await sbx.files.write([
        { path: path.join(DIR, 'm/a.txt'), data: 'A' },
        { path: path.join(DIR, 'm/b.txt'), data: 'B' },
      ])
      assert.deepEqual(
        many.map((w) => w.path).sort(),
        [path.join(DIR, 'm/a.txt'), path.join(DIR, 'm/b.txt')],
      )
      assert.equal(fs.readFileSync(path.join(DIR, 'm/b.txt'), 'utf8'), 'B')
    })

    it('files: relative paths resolve against the user home', async () => {
      const w = await sbx.files.write('notes/rel.txt', 'relative')
      assert.equal(w.path, `${HOME}/notes/rel.txt`)
      assert.equal(fs.readFileSync(`${HOME}/notes/rel.txt`, 'utf8'), 'relative')
      assert.equal(await sbx.files.read('~/notes/rel.txt'), 'relative')
    })

    it('files: list, exists, makeDir, rename, remove', async () => {
      const d = path.join(DIR, 'tree')
      assert.equal(await sbx.files.makeDir(d), true)
      assert.equal(await sbx.files.makeDir(d), false, 'makeDir on an existing dir returns false')
      assert.equal(await sbx.files.makeDir(path.join(d, 'sub/inner')), true, 'parents are created')
      await sbx.files.write(path.join(d, 'a.txt'), 'a')
      await sbx.files.write(path.join(d, 'sub/b.txt'), 'bb')
      const top = await sbx.files.list(d)
      assert.deepEqual(top.map((e) => `${e.name}:${e.type}`).sort(), ['a.txt:file', 'sub:dir'])
      const deep = await sbx.files.list(d, { depth: 3 })
      assert.deepEqual(deep.map((e) => path.relative(d, e.path)).sort(), [
        'a.txt',
        'sub',
        'sub/b.txt',
        'sub/inner',
      ])
      assert.equal(await sbx.files.exists(path.join(d, 'a.txt')), true)
      assert.equal(await sbx.files.exists(path.join(d, 'nope')), false)
      const moved = await sbx.files.rename(path.join(d, 'a.txt'), path.join(d, 'sub/c.txt'))
      assert.equal(moved.path, path.join(d, 'sub/c.txt'))
      assert.equal(moved.name, 'c.txt')
      assert.ok(!fs.existsSync(path.join(d, 'a.txt')) && fs.existsSync(path.join(d, 'sub/c.txt')))
      await sbx.files.remove(path.join(d, 'sub/c.txt'))
      assert.equal(await sbx.files.exists(path.join(d, 'sub/c.txt')), false)
      await sbx.files.remove(path.join(d, 'sub'))
      assert.ok(!fs.existsSync(path.join(d, 'sub')), 'a non-empty directory is removed recursively')
      await assert.rejects(sbx.files.list(path.join(d, 'nope')), /not[ _]found|No such file/i)
      await assert.rejects(sbx.files.list(path.join(DIR, 'blob.bin')), /not a directory/i)
    })

    it('files: watchDir reports create/rename/remove, recursive, host changes too', async () => {
      const d = path.join(DIR, 'watched')
      fs.mkdirSync(path.join(d, 'nested'), { recursive: true })
      const events = []
      const seen = (name, type) => events.some((e) => e.name === name && e.type === type)
      const w = await sbx.files.watchDir(d, (e) => events.push(e), { recursive: true })
      try {
        await sbx.files.write(path.join(d, 'new.txt'), 'x')
        await until('create new.txt', () => seen('new.txt', FilesystemEventType.CREATE))
        await sbx.files.makeDir(path.join(d, 'nested/sub'))
        await until('create nested/sub', () => seen('nested/sub', FilesystemEventType.CREATE))
        // changes made outside envd are seen too, also in a directory created after the watch
        fs.writeFileSync(path.join(d, 'nested/sub/host.txt'), 'from host')
        await until('create nested/sub/host.txt', () => seen('nested/sub/host.txt', FilesystemEventType.CREATE))
        await until('write nested/sub/host.txt', () => seen('nested/sub/host.txt', FilesystemEventType.WRITE))
        fs.chmodSync(path.join(d, 'nested/sub/host.txt'), 0o600)
        await until('chmod nested/sub/host.txt', () => seen('nested/sub/host.txt', FilesystemEventType.CHMOD))
        await sbx.files.rename(path.join(d, 'new.txt'), path.join(d, 'renamed.txt'))
        await until('rename new.txt', () => seen('new.txt', FilesystemEventType.RENAME))
        await sbx.files.remove(path.join(d, 'renamed.txt'))
        await until('remove renamed.txt', () => seen('renamed.txt', FilesystemEventType.REMOVE))
      } finally {
        await w.stop()
      }
      const n = events.length
      fs.writeFileSync(path.join(d, 'after-stop.txt'), '')
      await sleep(300)
      assert.equal(events.length, n, 'no events after stop()')
      await assert.rejects(sbx.files.watchDir(path.join(d, 'missing'), () => {}), /not[ _]found|No such file/i)
      await assert.rejects(sbx.files.watchDir(path.join(d, 'after-stop.txt'), () => {}), /not a directory/i)
    })

    // E2B's envd writes an upload in place (open O_TRUNC); E2B's own SDK test "watch directory
    // changes" waits for a WRITE event named after the file.  Ours stages the body in an unnamed
    // O_TMPFILE and then writes the target in place: watchers see WRITE of NAME and nothing else.
    it(
      'files.write on a watched directory reports WRITE for the file name, no temporary names',
      async () => {
        const d = path.join(DIR, 'watched-write')
        fs.mkdirSync(d)
        fs.writeFileSync(path.join(d, 'f.txt'), 'old')
        const events = []
        const w = await sbx.files.watchDir(d, (e) => events.push(e))
        try {
          await sbx.files.write(path.join(d, 'f.txt'), 'new content')
          await until(
            'WRITE f.txt',
            () => events.some((e) => e.name === 'f.txt' && e.type === FilesystemEventType.WRITE),
            3000,
          ).catch((e) => {
            throw new Error(`${e.message}; events: ${JSON.stringify(events.map((x) => `${x.type} ${x.name}`))}`)
          })
          assert.deepEqual(events.filter((e) => e.name !== 'f.txt'), [], 'events for other names')
        } finally {
          await w.stop()
        }
      },
    )

    // Overwriting keeps the inode: the old file's mode stays (a chmod +x script stays
    // executable), a symlink is written through to its target, hard links stay joined, as E2B.
    it(
      'files.write over an existing file keeps its mode and writes through symlinks',
      async () => {
        const d = path.join(DIR, 'overwrite')
        fs.mkdirSync(d)
        fs.writeFileSync(path.join(d, 'run.sh'), '#!/bin/sh\necho old\n', { mode: 0o755 })
        await sbx.files.write(path.join(d, 'run.sh'), '#!/bin/sh\necho new\n')
        fs.writeFileSync(path.join(d, 'target'), 'old')
        fs.symlinkSync('target', path.join(d, 'link'))
        await sbx.files.write(path.join(d, 'link'), 'through the link')
        assert.equal((await sbx.commands.run(path.join(d, 'run.sh'), { user: 'root' })).stdout, 'new\n')
        assert.equal(fs.statSync(path.join(d, 'run.sh')).mode & 0o777, 0o755)
        assert.ok(fs.lstatSync(path.join(d, 'link')).isSymbolicLink(), 'the symlink is still a symlink')
        assert.equal(fs.readFileSync(path.join(d, 'target'), 'utf8'), 'through the link')
      },
    )
  })
}
