// node:test reporter: one flat TAP-ish line per SDK test (tests/integration/70-e2b.t numbers
// them).  `ok - SUITE: NAME`, `ok - SUITE: NAME # skip REASON`, `not ok - SUITE: NAME` followed
// by `# ` lines with the error.  Suites (describe) are not lines of their own unless a hook of
// theirs failed.
const suites = []

function line(ok, name, reason) {
  return `${ok ? 'ok' : 'not ok'} - ${name.replace(/#/g, '\\#')}${reason ? ` # ${reason}` : ''}\n`
}

function errorText(err) {
  const e = err?.cause ?? err
  const msg = e?.message ?? String(e)
  return msg
    .split('\n')
    .slice(0, 12)
    .map((l) => `# ${l}\n`)
    .join('')
}

export default async function* flatTap(source) {
  for await (const { type, data } of source) {
    if (type === 'test:start') {
      suites[data.nesting] = data.name
      continue
    }
    if (type !== 'test:pass' && type !== 'test:fail') continue
    const isSuite = data.details?.type === 'suite'
    const full = [...suites.slice(0, data.nesting), data.name].join(': ')
    if (isSuite) {
      const ft = data.details?.error?.failureType
      if (type === 'test:fail' && ft !== 'subtestsFailed') yield line(false, full) + errorText(data.details.error)
      continue
    }
    if (data.skip !== undefined && data.skip !== false)
      yield line(true, full, `skip ${data.skip === true ? 'skipped' : data.skip}`)
    else if (data.todo !== undefined && data.todo !== false)
      yield line(type === 'test:pass', full, `TODO ${data.todo === true ? '' : data.todo}`)
    else if (type === 'test:pass') yield line(true, full)
    else yield line(false, full) + errorText(data.details?.error)
  }
}
