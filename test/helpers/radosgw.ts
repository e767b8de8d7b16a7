// A real S3 that honours conditional writes: Debian's Ceph RADOS Gateway, on 127.0.0.1, one
// monitor and one memstore OSD, no mgr (SPEC.md §13). Started per suite in a temporary
// directory; everything it runs is stopped by stop().
import { execFile, execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { promises as fs, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './nginx.js'

const run = promisify(execFile)

export interface RunningRadosgw {
  endpoint: string
  port: number
  accessKey: string
  secretKey: string
  dir: string
  stop(): Promise<void>
}

function config(dir: string, monPort: number, rgwPort: number, fsid: string): string {
  return `[global]
fsid = ${fsid}
mon_host = 127.0.0.1:${monPort}
mon_initial_members = a
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
ms_bind_ipv6 = false
osd_objectstore = memstore
memstore_device_bytes = 2147483648
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
paxos_propose_interval = 0.05
osd_pool_default_pg_autoscale_mode = off
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_max_pg_per_osd = 1000
run_dir = ${dir}/run
log_file = ${dir}/log/$name.log
admin_socket = ${dir}/run/$name.asok
pid_file = ${dir}/run/$name.pid
mon_data = ${dir}/mon/$cluster-$id
osd_data = ${dir}/osd/$cluster-$id
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw_enable_static_website = true
rgw_dns_name = localhost
rgw_data = ${dir}/rgw
`
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`radosgw: ${what} did not come up within ${ms / 1000} s`)
}

/** Start a one-node Ceph with radosgw and an S3 user `test`/`test`. */
export async function startRadosgw(): Promise<RunningRadosgw> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocisite-rgw-'))
  for (const d of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw']) await fs.mkdir(path.join(dir, d), { recursive: true })
  const [monPort, port] = [await freePort(), await freePort()]
  const fsid = randomUUID()
  const conf = path.join(dir, 'ceph.conf')
  await fs.writeFile(conf, config(dir, monPort, port, fsid))
  const c = ['-c', conf]
  await run('monmaptool', ['--create', '--add', 'a', `127.0.0.1:${monPort}`, '--fsid', fsid, path.join(dir, 'monmap'), ...c])
  await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')])
  await run('ceph-mon', [...c, '-i', 'a'])
  const osdUuid = randomUUID()
  await run('ceph', [...c, 'osd', 'new', osdUuid], { timeout: 60_000 })
  await run('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid])
  await run('ceph-osd', [...c, '-i', '0'])
  await run('radosgw', [...c, '-n', 'client.rgw.a'])
  const stop = async () => {
    for (const f of await fs.readdir(path.join(dir, 'run')).catch(() => [] as string[])) {
      if (!f.endsWith('.pid')) continue
      const pid = Number(readFileSync(path.join(dir, 'run', f), 'utf8').trim())
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    await fs.rm(dir, { recursive: true, force: true })
  }
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`)).status === 200, 'the S3 endpoint')
    execFileSync('radosgw-admin', [...c, 'user', 'create', '--uid', 'test', '--display-name', 'test', '--access-key', 'test', '--secret', 'test'], { stdio: 'ignore' })
  } catch (err) {
    await stop()
    throw err
  }
  return { endpoint: `http://127.0.0.1:${port}`, port, accessKey: 'test', secretKey: 'test', dir, stop }
}
