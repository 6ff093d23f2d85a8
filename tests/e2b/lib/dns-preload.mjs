// Preloaded with `node --import ./lib/dns-preload.mjs` by tests/integration/76-domain.t: names
// under WRENN_TEST_DOMAIN (the domain itself and every *.<domain>) resolve to 127.0.0.1, the
// TLS front the test started there.  Every other name goes to the real dns.lookup.  This
// changes the test's environment (no /etc/hosts or host DNS edit), not the SDK: net and tls
// (so fetch/undici too) resolve through dns.lookup.
import dns from 'node:dns'

const domain = (process.env.WRENN_TEST_DOMAIN || '').toLowerCase().replace(/\.$/, '')
if (!domain) throw new Error('dns-preload: set WRENN_TEST_DOMAIN')

const realLookup = dns.lookup
const ours = (host) => {
  const h = String(host).toLowerCase().replace(/\.$/, '')
  return h === domain || h.endsWith(`.${domain}`)
}

dns.lookup = function lookup(hostname, options, callback) {
  if (typeof options === 'function') {
    callback = options
    options = {}
  }
  if (!ours(hostname)) return realLookup.call(dns, hostname, options, callback)
  const opts = typeof options === 'number' ? { family: options } : options || {}
  if (opts.family === 6) {
    const e = new Error(`getaddrinfo ENOTFOUND ${hostname} (IPv4 only)`)
    e.code = 'ENOTFOUND'
    process.nextTick(callback, e)
    return {}
  }
  if (opts.all) process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }])
  else process.nextTick(callback, null, '127.0.0.1', 4)
  return {}
}
dns.promises.lookup = async (hostname, options) =>
  new Promise((resolve, reject) =>
    dns.lookup(hostname, options || {}, (err, address, family) => {
      if (err) reject(err)
      else if (Array.isArray(address)) resolve(address)
      else resolve({ address, family })
    })
  )
