import * as sdk from 'e2b'
import { e2bSuite } from '../lib/suite.mjs'

e2bSuite(`latest (${(await import('e2b/package.json', { with: { type: 'json' } })).default.version})`, sdk)
