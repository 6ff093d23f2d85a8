// Template builds with the unmodified npm SDK (issue 10), both pinned versions: Template.build
// from 'base' with a copied local directory, RUN, ENV, WORKDIR, USER and a start command with a
// ready check (a small HTTP server), then Sandbox.create(name) sees the files, env, workdir and
// user and the server answers through the proxy; an identical rebuild is a cache hit, also through
// Template.buildInBackground + Template.getBuildStatus polling; tags (assign, list, create from
// name:tag, remove); a failing step is a BuildError naming it.  Needs E2B_API_URL,
// E2B_SANDBOX_URL, E2B_API_KEY.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as latest from 'e2b'
import * as v24 from 'e2b-v24'

const READY = `python3 -c 'import urllib.request as u; u.urlopen("http://127.0.0.1:8000/hello.txt", timeout=2)'`

for (const [label, sdk] of [['latest', latest], ['v24', v24]]) {
  const { Template, Sandbox, BuildError } = sdk
  describe(`template builds, e2b ${label}`, { timeout: 900_000 }, () => {
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'wrenn-tpl-'))
    fs.mkdirSync(path.join(ctx, 'app'))
    fs.writeFileSync(path.join(ctx, 'app', 'hello.txt'), `hello ${label}\n`)
    const name = `sdk-${label}-${process.pid}`
    const sandboxes = []
    after(async () => {
      for (const s of sandboxes) await s.kill().catch(() => {})
      fs.rmSync(ctx, { recursive: true, force: true })
    })

    const template = () =>
      Template({ fileContextPath: ctx })
        .fromTemplate('base')
        .copy('app', '/home/user/app')
        .runCmd('echo "built by $(id -un)" > /home/user/app/built.txt')
        .setEnvs({ GREETING: `hi-${label}` })
        .setWorkdir('/home/user/app')
        .setUser('user')
        .setStartCmd('python3 -m http.server 8000 --directory /home/user/app', READY)

    it('Template.build, then Sandbox.create(name) restores it', async () => {
      const logs = []
      const info = await Template.build(template(), name, {
        cpuCount: 1,
        memoryMB: 512,
        onBuildLogs: (e) => logs.push(String(e.message ?? e)),
      })
      assert.equal(info.templateId, name)
      assert.ok(logs.some((l) => l.includes('[1/5] COPY app /home/user/app')), logs.join('\n'))
      const sbx = await Sandbox.create(name, { timeoutMs: 600_000 })
      sandboxes.push(sbx)
      const r = await sbx.commands.run('cat hello.txt built.txt; echo "$GREETING"; pwd; whoami')
      assert.equal(r.stdout, `hello ${label}\nbuilt by user\nhi-${label}\n/home/user/app\nuser\n`)
      // the start command's server, through wrenn's proxy (routing by headers on its address)
      const res = await fetch(`${process.env.E2B_SANDBOX_URL}/hello.txt`, {
        headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '8000' },
      })
      assert.equal(await res.text(), `hello ${label}\n`)
    })

    it('an identical rebuild is a cache hit', async () => {
      const logs = []
      const t0 = Date.now()
      await Template.build(template(), name, { cpuCount: 1, memoryMB: 512, onBuildLogs: (e) => logs.push(String(e.message ?? e)) })
      assert.ok(logs.some((l) => l.includes('cache hit')), logs.join('\n'))
      assert.ok(Date.now() - t0 < 30_000)
    })

    it('Template.buildInBackground + getBuildStatus polling with logsOffset', async () => {
      // the identical template again: the server finds it in its cache, yet every status field
      // the SDK reads comes through the ordinary poll
      const data = await Template.buildInBackground(template(), name, { cpuCount: 1, memoryMB: 512 })
      assert.equal(data.templateId, name)
      assert.match(data.buildId, /^[0-9a-f-]{36}$/)
      let offset = 0
      let st
      const msgs = []
      for (let i = 0; i < 600; i++) {
        st = await Template.getBuildStatus(data, { logsOffset: offset })
        assert.equal(st.buildID, data.buildId)
        assert.equal(st.templateID, name)
        for (const e of st.logEntries) {
          assert.ok(e.timestamp instanceof Date && !isNaN(e.timestamp), String(e.timestamp))
          msgs.push(e.message)
        }
        offset += st.logEntries.length
        if (st.status === 'ready' || st.status === 'error') break
        await new Promise((r) => setTimeout(r, 500))
      }
      assert.equal(st.status, 'ready', msgs.join('\n'))
      assert.ok(msgs.some((m) => m.includes('cache hit')), msgs.join('\n'))
      const rest = await Template.getBuildStatus(data, { logsOffset: offset })
      assert.equal(rest.logEntries.length, 0)
    })

    it('tags: assignTags, getTags, removeTags; a tag creates sandboxes', async () => {
      const r = await Template.assignTags(name, ['stable'])
      assert.deepEqual(r.tags, ['stable'])
      assert.match(r.buildId, /^[0-9a-f-]{36}$/)
      assert.deepEqual((await Template.getTags(name)).map((t) => t.tag), ['stable'])
      const sbx = await Sandbox.create(`${name}:stable`, { timeoutMs: 120_000 })
      sandboxes.push(sbx)
      assert.equal((await sbx.commands.run('cat /home/user/app/hello.txt')).stdout, `hello ${label}\n`)
      await Template.removeTags(name, 'stable')
      assert.deepEqual(await Template.getTags(name), [])
    })

    it('a failing step is a BuildError naming it', async () => {
      const bad = Template({ fileContextPath: ctx }).fromTemplate('base').runCmd('echo about-to-fail; exit 3')
      await assert.rejects(Template.build(bad, `${name}-bad`, { cpuCount: 1, memoryMB: 512 }), (e) => {
        assert.ok(e instanceof BuildError, String(e))
        assert.match(e.message, /step 1 \(RUN echo about-to-fail; exit 3\) failed: exit code 3/)
        assert.match(e.message, /about-to-fail/)
        return true
      })
      assert.equal(await Template.exists(`${name}-bad`), false)
    })

    it('delete (DELETE /templates/{name}: the SDK has no Template.delete)', async () => {
      for (const s of sandboxes.splice(0)) await s.kill()
      const res = await fetch(`${process.env.E2B_API_URL}/templates/${name}`, {
        method: 'DELETE',
        headers: { 'X-API-Key': process.env.E2B_API_KEY },
      })
      assert.equal(res.status, 204)
      assert.equal(await Template.exists(name), false)
    })
  })
}
