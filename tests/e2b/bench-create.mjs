// bench/e2b-create.sh: Sandbox.create -> first commands.run result, one at a time (the kill is
// not timed).  Prints one duration in ms per line.  Env: the E2B_* variables, BENCH_N (10),
// WRENN_E2B_TEMPLATE (default: the SDK's default template).
import { Sandbox } from 'e2b'

const n = Number(process.env.BENCH_N || 10)
const template = process.env.WRENN_E2B_TEMPLATE || undefined
for (let i = 0; i < n; i++) {
  const t0 = performance.now()
  const sbx = template ? await Sandbox.create(template) : await Sandbox.create()
  const r = await sbx.commands.run('echo hi')
  const t1 = performance.now()
  await sbx.kill()
  if (r.stdout !== 'hi\n') throw new Error(`run ${i}: stdout ${JSON.stringify(r.stdout)}`)
  console.log(Math.round(t1 - t0))
}
