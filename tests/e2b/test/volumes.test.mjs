// Volumes through the unmodified npm SDK (run by tests/integration/75-volumes.t, which sets
// E2B_API_URL, E2B_VOLUME_API_URL, E2B_SANDBOX_URL, E2B_API_KEY): Volume.create, content
// written while detached, Sandbox.create({volumeMounts}) reading and writing it, and the
// content API reading what the sandbox wrote after a kill.
import { Sandbox, Volume } from 'e2b'
import assert from 'node:assert/strict'

const name = `sdk-${process.pid}`
const vol = await Volume.create(name)
assert.match(vol.volumeId, /^vol-/)
assert.ok((await Volume.list()).some((v) => v.volumeId === vol.volumeId && v.name === name))

const w = await vol.writeFile('/in/from-sdk.txt', 'hello volume')
assert.equal(w.type, 'file')
assert.equal(w.size, 12)
assert.equal(await vol.readFile('/in/from-sdk.txt'), 'hello volume')
assert.equal(await vol.exists('/in/nope'), false)
const d = await vol.makeDir('/made')
assert.equal(d.type, 'directory')

const sbx = await Sandbox.create('minimal', { volumeMounts: { '/mnt/vol': vol }, timeoutMs: 120_000 })
try {
	const r = await sbx.commands.run('cat /mnt/vol/in/from-sdk.txt', { user: 'root' })
	assert.equal(r.stdout, 'hello volume')
	assert.deepEqual((await sbx.getInfo()).volumeMounts, [{ name, path: '/mnt/vol' }])
	await sbx.files.write('/mnt/vol/made/by-sandbox.txt', 'written in the sandbox')
	await assert.rejects(
		Sandbox.create('minimal', { volumeMounts: { '/mnt/vol': name }, timeoutMs: 60_000 }),
		(e) => /in use|409/.test(String(e?.message ?? e)),
	)
} finally {
	await sbx.kill()
}
assert.equal(await vol.readFile('/made/by-sandbox.txt'), 'written in the sandbox')
const ls = await vol.list('/made')
assert.deepEqual(ls.map((e) => e.name), ['by-sandbox.txt'])
await vol.remove('/made/by-sandbox.txt')
assert.equal(await vol.exists('/made/by-sandbox.txt'), false)
assert.equal(await Volume.destroy(vol.volumeId), true)
console.log('volumes sdk ok')
