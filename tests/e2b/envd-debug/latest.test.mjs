// The latest pinned release (package.json), in debug mode against envd alone.
import * as sdk from 'e2b'
import { envdSuite } from './suite.mjs'

envdSuite(`latest (${(await import('e2b/package.json', { with: { type: 'json' } })).default.version})`, sdk)
