// Regenerates the tiny inputs under example-site/ (committed; run only to change them).
// Usage: npx tsx scripts/make-example.ts
import { promises as fs } from 'node:fs'
import path from 'node:path'
import * as tar from 'tar'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image, multiPlatform, sbomFor, stackArtifact } from '../test/helpers/fixtures.js'

const root = path.resolve('example-site/layouts')
await fs.rm(root, { recursive: true, force: true })

const hello = await OciLayout.create(path.join(root, 'hello'))
const helloImage = await image(hello, 'amd64', 'hello from ocisite')
await hello.addToIndex(helloImage, '1.0')
await hello.addToIndex(helloImage, 'latest')
await hello.addToIndex(helloImage, 'dev-snapshot')
await sbomFor(hello, helloImage)

const multi = await OciLayout.create(path.join(root, 'multi'))
await multi.addToIndex(await multiPlatform(multi, 'multi-platform example'), '2.0')

// The stack artifact ships as an OCI archive, as `skopeo copy ... oci-archive:` would write it.
const stackDir = path.join(root, '.stack-layout')
const stack = await OciLayout.create(stackDir)
await stack.addToIndex(await stackArtifact(stack, 'services:\n  web:\n    image: localhost/hello#1.0\n'), '0.1')
await tar.c({ file: path.join(root, 'web-stack.tar'), cwd: stackDir, portable: true, mtime: new Date(0) }, ['oci-layout', 'index.json', 'blobs'])
await fs.rm(stackDir, { recursive: true, force: true })
console.log(`example inputs written to ${root}`)
