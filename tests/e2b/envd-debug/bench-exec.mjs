// bench/envd.sh's exec client: one node process, N sequential round trips of `true` against envd
// at ENVD_URL, printing one duration in ms per line on stdout (after a few warm-up runs).
//   raw: process.Process/Start as a Connect server stream over a keep-alive HTTP/1.1 connection,
//        timed from sending the request to the end-stream frame (start + end events checked).
//   sdk: the npm e2b SDK's commands.run('true') (debug mode + E2B_SANDBOX_URL = ENVD_URL), which
//        runs `/bin/bash -l -c true` and adds the SDK's own work.
// Usage: ENVD_URL=http://127.0.0.1:PORT node bench-exec.mjs raw|sdk N
import http from 'node:http'

const [mode = 'raw', nArg = '50'] = process.argv.slice(2)
const N = Number(nArg)
const WARMUP = 3
const url = new URL(process.env.ENVD_URL || 'http://127.0.0.1:49983')

function frame(obj) {
  const body = Buffer.from(JSON.stringify(obj))
  const h = Buffer.alloc(5)
  h.writeUInt32BE(body.length, 1)
  return Buffer.concat([h, body])
}

// Decodes the Connect envelopes of one response; resolves with the parsed messages once the
// end-stream frame (flag 0x02) arrived.
function startTrue(agent) {
  const req = frame({ process: { cmd: 'true' } })
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: '/process.Process/Start',
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/connect+json',
          'Connect-Protocol-Version': '1',
          'Content-Length': req.length,
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`HTTP ${res.statusCode}`))
          res.resume()
          return
        }
        let buf = Buffer.alloc(0)
        const msgs = []
        res.on('data', (c) => {
          buf = Buffer.concat([buf, c])
          while (buf.length >= 5) {
            const len = buf.readUInt32BE(1)
            if (buf.length < 5 + len) break
            const flags = buf[0]
            msgs.push({ flags, json: JSON.parse(buf.subarray(5, 5 + len).toString()) })
            buf = buf.subarray(5 + len)
          }
        })
        res.on('end', () => {
          const last = msgs.at(-1)
          if (!last || last.flags !== 2) return reject(new Error('no end-stream frame'))
          if (last.json.error) return reject(new Error(JSON.stringify(last.json.error)))
          const ev = msgs.filter((m) => m.flags === 0).map((m) => m.json.event)
          if (!ev[0]?.start) return reject(new Error(`first event is not start: ${JSON.stringify(ev[0])}`))
          const end = ev.find((e) => e?.end)
          if (!end || (end.end.exitCode ?? 0) !== 0)
            return reject(new Error(`bad end event: ${JSON.stringify(end)}`))
          resolve()
        })
        res.on('error', reject)
      },
    )
    r.on('error', reject)
    r.end(req)
  })
}

let once
if (mode === 'raw') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  once = () => startTrue(agent)
} else if (mode === 'sdk') {
  process.env.E2B_DEBUG = 'true'
  process.env.E2B_SANDBOX_URL = url.origin
  const { Sandbox } = await import('e2b')
  const sbx = await Sandbox.create()
  once = async () => {
    const r = await sbx.commands.run('true')
    if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}`)
  }
} else {
  console.error(`bench-exec: unknown mode ${mode} (raw|sdk)`)
  process.exit(2)
}

for (let i = 0; i < WARMUP; i++) await once()
for (let i = 0; i < N; i++) {
  const t0 = process.hrtime.bigint()
  await once()
  console.log((Number(process.hrtime.bigint() - t0) / 1e6).toFixed(3))
}
process.exit(0)
