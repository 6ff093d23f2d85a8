// Domain mode (tests/integration/76-domain.t): the unmodified SDK configured with E2B_DOMAIN and
// E2B_API_KEY only.  It calls https://api.<domain> and reaches sandboxes at
// https://<port>-<id>.<domain>, through a TLS front (nginx) the test started on 127.0.0.1:443.
// The environment, not the SDK, is adapted: lib/dns-preload.mjs resolves *.<domain> to
// 127.0.0.1 and NODE_EXTRA_CA_CERTS trusts the test's CA.  Run for the latest SDK and for npm
// 1.13.2 (every 1.x ignores E2B_API_URL: E2B_DOMAIN is all it knows).
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import * as latest from 'e2b'
import * as v1 from 'e2b-v1'

const TEMPLATE = process.env.WRENN_E2B_TEMPLATE || 'minimal'
const DOMAIN = process.env.E2B_DOMAIN
const OP_TIMEOUT = 180_000
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

for (const v of ['E2B_API_URL', 'E2B_SANDBOX_URL', 'E2B_DEBUG'])
  if (process.env[v]) throw new Error(`domain mode: ${v} must not be set`)
if (!DOMAIN || !process.env.E2B_API_KEY) throw new Error('set E2B_DOMAIN and E2B_API_KEY')

async function until(what, fn, ms = 30_000) {
  const end = Date.now() + ms
  let last
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
    await sleep(200)
  }
}

const version = async (pkg) => (await import(`${pkg}/package.json`, { with: { type: 'json' } })).default.version

function domainSuite(label, { Sandbox }, createOpts = {}) {
  describe(`domain mode ${label}`, { timeout: 900_000 }, () => {
    let sbx
    const created = new Set()

    after(async () => {
      for (const id of created) {
        try {
          await Sandbox.kill(id)
        } catch {
          /* already gone */
        }
      }
    })

    it(`Sandbox.create via https://api.${DOMAIN}; getHost(port) is <port>-<id>.${DOMAIN}`, { timeout: OP_TIMEOUT }, async () => {
      sbx = await Sandbox.create(TEMPLATE, { timeoutMs: 600_000, ...createOpts })
      created.add(sbx.sandboxId)
      assert.equal(sbx.connectionConfig.apiUrl, `https://api.${DOMAIN}`)
      assert.equal(sbx.getHost(8080), `8080-${sbx.sandboxId}.${DOMAIN}`)
      assert.equal(sbx.getHost(49983), `49983-${sbx.sandboxId}.${DOMAIN}`)
      const info = await Sandbox.getInfo(sbx.sandboxId)
      assert.equal(info.sandboxId, sbx.sandboxId)
    })

    it(`commands.run through https://49983-<id>.${DOMAIN}`, { timeout: OP_TIMEOUT }, async () => {
      const r = await sbx.commands.run('echo hello-domain; echo to-err >&2')
      assert.equal(r.exitCode, 0)
      assert.equal(r.stdout, 'hello-domain\n')
      assert.equal(r.stderr, 'to-err\n')
      // streaming through nginx: output arrives before the command ends
      const seen = []
      const s = await sbx.commands.run('echo one; sleep 1; echo two', { onStdout: (d) => seen.push([Date.now(), d]) })
      assert.equal(s.stdout, 'one\ntwo\n')
      assert.equal(seen.length, 2, `chunks: ${JSON.stringify(seen)}`)
      assert.ok(seen[1][0] - seen[0][0] >= 500, 'the first line was not streamed before the second')
    })

    it('files.write / files.read', { timeout: OP_TIMEOUT }, async () => {
      const body = `payload ${label} ${'x'.repeat(100_000)}\n`
      await sbx.files.write('/tmp/domain.txt', body)
      assert.equal(await sbx.files.read('/tmp/domain.txt'), body)
    })

    it('uploadUrl: signed URL, plain fetch POST (no sandbox header)', { timeout: OP_TIMEOUT }, async () => {
      const url = new URL(await sbx.uploadUrl('/tmp/up.txt'))
      assert.equal(url.host, `49983-${sbx.sandboxId}.${DOMAIN}`)
      assert.ok(url.searchParams.get('signature'), `unsigned: ${url}`)
      const fd = new FormData()
      fd.append('file', new Blob([`uploaded ${label}\n`]), 'up.txt')
      const r = await fetch(url, { method: 'POST', body: fd })
      assert.equal(r.status, 200, await r.text())
      assert.equal(await sbx.files.read('/tmp/up.txt'), `uploaded ${label}\n`)
    })

    it('downloadUrl: signed URL, plain fetch GET (no sandbox header); unsigned refused', { timeout: OP_TIMEOUT }, async () => {
      const url = new URL(await sbx.downloadUrl('/tmp/up.txt'))
      assert.equal(url.host, `49983-${sbx.sandboxId}.${DOMAIN}`)
      const r = await fetch(url)
      assert.equal(r.status, 200)
      assert.equal(await r.text(), `uploaded ${label}\n`)
      url.searchParams.delete('signature')
      url.searchParams.delete('signature_expiration')
      const u = await fetch(url)
      assert.equal(u.status, 401, `unsigned download answered ${u.status}`)
    })

    it('an HTTP server in the sandbox at https://<getHost(8080)>', { timeout: OP_TIMEOUT }, async () => {
      await sbx.commands.run(`mkdir -p /tmp/www && echo "hi from ${sbx.sandboxId}" > /tmp/www/index.html`)
      await sbx.commands.run('busybox httpd -f -p 8080 -h /tmp/www', { background: true })
      const url = `https://${sbx.getHost(8080)}/index.html`
      const text = await until(`${url}`, async () => {
        const r = await fetch(url)
        return r.status === 200 ? await r.text() : undefined
      })
      assert.equal(text, `hi from ${sbx.sandboxId}\n`)
    })

    it('Sandbox.connect(id): the domain from the API, commands and files through it', { timeout: OP_TIMEOUT }, async () => {
      const c = await Sandbox.connect(sbx.sandboxId)
      assert.equal(c.getHost(8080), `8080-${sbx.sandboxId}.${DOMAIN}`)
      assert.equal((await c.commands.run('cat /tmp/up.txt')).stdout, `uploaded ${label}\n`)
    })

    it('isRunning() true, kill, isRunning() false', { timeout: OP_TIMEOUT }, async () => {
      assert.equal(await sbx.isRunning(), true)
      await sbx.kill()
      created.delete(sbx.sandboxId)
      assert.equal(await sbx.isRunning(), false)
    })
  })
}

domainSuite(`latest (${await version('e2b')})`, latest)
// 1.x signs file URLs only for a sandbox created with secure: true (2.x always does)
domainSuite(`v1 (${await version('e2b-v1')})`, v1, { secure: true })
