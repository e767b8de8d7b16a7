// A docker-archive's config becomes the OCI config skopeo writes, byte for byte: each raw config
// below is put in a real docker-archive, converted by skopeo 1.9.3 (`skopeo copy
// docker-archive:… oci:…`), and compared with ociConfigOf's bytes. Configs skopeo refuses are
// refused too; the one case Go decodes through reused memory is refused rather than guessed.
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ociConfigOf } from '../src/oci/docker-config.js'
import { skopeo } from './helpers/clients.js'
import { tarLayer, tempDir } from './helpers/fixtures.js'
import * as tar from 'tar'

let work: string
let layer: Buffer
let rootfs: string

beforeAll(async () => {
  work = await tempDir()
  layer = await tarLayer({ 'etc/x': 'x\n' })
  rootfs = `"rootfs":{"type":"layers","diff_ids":["sha256:${createHash('sha256').update(layer).digest('hex')}"]}`
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

let n = 0
/** skopeo's OCI config for a docker-archive holding `config` (raw text), or its error. */
async function skopeoConfig(config: string): Promise<{ bytes?: Buffer; error?: string }> {
  const dir = path.join(work, `case-${n++}`)
  await fs.mkdir(dir)
  await fs.writeFile(path.join(dir, 'config.json'), config)
  await fs.writeFile(path.join(dir, 'layer.tar'), layer)
  await fs.writeFile(path.join(dir, 'manifest.json'), '[{"Config":"config.json","RepoTags":["x:1"],"Layers":["layer.tar"]}]')
  await tar.c({ cwd: dir, file: `${dir}.tar`, portable: true }, ['config.json', 'layer.tar', 'manifest.json'])
  try {
    await skopeo('copy', '--dest-oci-accept-uncompressed-layers', `docker-archive:${dir}.tar`, `oci:${dir}-oci:x`)
  } catch (err) {
    return { error: (err as Error).message }
  }
  const blob = (d: string) => fs.readFile(path.join(`${dir}-oci`, 'blobs', 'sha256', d.slice(7)))
  const index = JSON.parse(await fs.readFile(path.join(`${dir}-oci`, 'index.json'), 'utf8'))
  const manifest = JSON.parse((await blob(index.manifests[0].digest)).toString())
  return { bytes: await blob(manifest.config.digest) }
}

const R = '%ROOTFS%'
describe('a docker config re-encoded as skopeo 1.9.3 re-encodes it', () => {
  it.each([
    ['docker field order, docker-only fields dropped', `{"architecture":"amd64","config":{"Hostname":"","Env":["PATH=/bin"],"Cmd":["sh"],"Image":"sha256:abc","OnBuild":null,"Labels":null,"Healthcheck":{"Test":["CMD","true"]},"Shell":["/bin/sh"]},"container":"abc","container_config":{"Cmd":["x"]},"created":"2024-03-05T10:11:12.123456789Z","docker_version":"24.0.7","history":[{"created":"2024-03-05T10:11:12.1Z","created_by":"/bin/sh -c #(nop) ADD file:x in / "},{"created":"2024-03-05T10:11:12.2Z","created_by":"CMD [\\"sh\\"]","empty_layer":true}],"os":"linux",${R}}`],
    ['every OCI field, in reverse order, with unknown ones', `{"zzz":1,"os.features":["f1"],"os.version":"10.0","variant":"v8","author":"me <a&b>","created":"2024-01-01T10:00:00.120000+02:00","architecture":"arm64","os":"linux","config":{"StopSignal":"SIGTERM","ArgsEscaped":true,"Labels":{"b":"2","a":"<1>","é":"x","Z":"z"},"WorkingDir":"/w","Volumes":{"/v":{}},"Cmd":["sh"],"Entrypoint":["/e"],"Env":["A=1"],"ExposedPorts":{"80/tcp":{}},"User":"u"},${R},"history":[{"empty_layer":true,"comment":"c","author":"a","created_by":"cb","created":"2024-01-01T00:00:00Z","extra":1}]}`],
    ['escapes: control characters, HTML, U+2028, a lone surrogate, emoji', `{"architecture":"amd64","os":"linux","config":{"Env":["a\\b\\f\\u0001\\u001f\\u007f\\u2028\\u2029<>&\\"\\\\/é😀\\ud800x\\t\\n\\r"],"Labels":{"a":null,"😀":"1","é":"2","z":"3","Z":"4","\\u0000":"0"},"Volumes":{"/v":null,"/w":{"x":1}},"Cmd":[],"Entrypoint":null}, ${R} , "history":[null,{"created":"2024-02-29T23:59:59.000Z","empty_layer":false}]}`],
    ['nulls and empty values', `{"architecture":"amd64","os":"linux","config":null,"created":null,"author":"","history":[],${R}}`],
    ['keys in other cases, long s and Kelvin sign; a dotless i does not match', `{"ARCHITECTURE":"amd64","oſ":"linux","Config":{"ENV":["x"],"cmd":["y"],"Wor\u212AingDir":"/k"},"created":"2024-01-01T10:00:00-00:00","rootfs":{"type":"layers","diff_ids":["%DIFF%"],"TYPE":"x"},"archıtecture":"nope"}`],
    ['repeated keys: objects merge, null keeps a string, maps merge', `{"architecture":"amd64","os":"linux","config":{"User":"a","Labels":{"x":"1"}},"config":{"WorkingDir":"/w","User":null,"Labels":{"y":"2","x":null}},${R},"os":"plan9"}`],
    ['times as Go 1.19 reads them', `{"architecture":"amd64","os":"linux",${R},"history":[{"created":"2024-01-01T1:00:00Z"},{"created":"2024-01-01T10:00:00,5Z"},{"created":"0000-01-01T00:00:00Z"},{"created":"2024-01-01T10:00:00+24:00"},{"created":"2024-01-01T10:00:00.1234567891+00:00"},{"created":"2024-01-01T10:00:00+05:99"}]}`],
  ])('%s', async (_, template) => {
    const config = template.replace(R, rootfs).replace('%DIFF%', JSON.parse(`{${rootfs}}`).rootfs.diff_ids[0])
    const want = await skopeoConfig(config)
    expect(want.error).toBeUndefined()
    const got = ociConfigOf(Buffer.from(config), 'config.json')
    expect(got.bytes.toString()).toBe(want.bytes!.toString())
  }, 60_000)

  it.each([
    ['a list where a string is', `"config":{"Env":"x"}`, 'cannot be read as a list of strings'],
    ['a string where a bool is', `"config":{"ArgsEscaped":"true"}`, 'cannot be read as true or false'],
    ['a number where a string is', `"variant":5`, 'cannot be read as a string'],
    ['an object where a list is', `"history":{}`, 'cannot be read as a list of objects'],
    ['a list where a map is', `"config":{"Labels":[]}`, 'cannot be read as an object of strings'],
    ['a time with a space', `"created":"2024-01-01 10:00:00Z"`, 'is not RFC 3339'],
    ['month 13', `"created":"2024-13-01T10:00:00Z"`, 'month out of range'],
    ['February 30', `"created":"2023-02-29T10:00:00Z"`, 'day out of range'],
    ['second 60', `"created":"2024-01-01T10:00:60Z"`, 'out of range'],
    ['a bare fraction point', `"created":"2024-01-01T10:00:00.Z"`, 'is not RFC 3339'],
  ])('refused like skopeo: %s', async (_, field, message) => {
    const config = `{"architecture":"amd64","os":"linux",${rootfs},${field}}`
    expect((await skopeoConfig(config)).error).toBeDefined()
    expect(() => ociConfigOf(Buffer.from(config), 'config.json')).toThrow(message)
  }, 60_000)

  it('a list given twice (Go decodes the second into the first one\'s memory) is refused, not guessed', async () => {
    const config = `{"architecture":"amd64","os":"linux",${rootfs},"config":{"Env":["a","b"]},"config":{"Env":[null]}}`
    // skopeo keeps "a": the second list reuses the first one's memory.
    expect(JSON.parse((await skopeoConfig(config)).bytes!.toString()).config.Env).toEqual(['a'])
    expect(() => ociConfigOf(Buffer.from(config), 'config.json')).toThrow('is given twice')
  })

  it.each([
    ['not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), 'not valid UTF-8'],
    ['not an object', Buffer.from('[1]'), 'not a JSON object'],
    ['trailing text', Buffer.from('{} x'), 'text after the document'],
    ['no diff_ids', Buffer.from('{"architecture":"amd64","os":"linux"}'), 'no rootfs.diff_ids'],
  ])('refused: %s', (_, bytes, message) => {
    expect(() => ociConfigOf(bytes, 'config.json')).toThrow(message)
  })
})
