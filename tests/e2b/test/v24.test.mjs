// A 2.4x release: it still creates with POST /sandboxes and connects with POST /sandboxes/{id}/connect.
import * as sdk from 'e2b-v24'
import { e2bSuite } from '../lib/suite.mjs'

e2bSuite(`v24 (${(await import('e2b-v24/package.json', { with: { type: 'json' } })).default.version})`, sdk)
