// The previous minor release (2.49.1, the e2b-v24 alias), same flows.
import * as sdk from 'e2b-v24'
import { envdSuite } from './suite.mjs'

envdSuite(`v24 (${(await import('e2b-v24/package.json', { with: { type: 'json' } })).default.version})`, sdk)
