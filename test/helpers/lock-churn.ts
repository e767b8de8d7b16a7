// Takes and frees a site's lock as fast as it can for a while, the way `--no-wait` writers
// do: each attempt either gets the lock or is refused with SITE_LOCKED. Anything else (a lock
// removed under its new holder, a lost lock) is printed. Prints one JSON line:
// {"taken": N, "errors": [...]}. Used by test/live-site.test.ts.
import { lockSite } from '../../src/site/write/site-state.js'
import { SitePaths } from '../../src/site/map.js'
import { OcisiteError } from '../../src/errors.js'

const [root, ms] = process.argv.slice(2)
const site = new SitePaths(root!)
const end = Date.now() + Number(ms)
let taken = 0
const errors: string[] = []
while (Date.now() < end) {
  try {
    const lock = await lockSite(site, { wait: false })
    taken++
    await lock.check()
    await lock.release()
  } catch (err) {
    if (!(err instanceof OcisiteError && err.code === 'SITE_LOCKED' && !/lost the site lock/.test(err.message))) errors.push(String(err))
  }
}
console.log(JSON.stringify({ taken, errors }))
