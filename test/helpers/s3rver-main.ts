// s3rver (a real S3 API from npm) in a process of its own, so a test can kill it mid-deploy:
//   node --import tsx test/helpers/s3rver-main.ts DIR PORT WEBSITE_XML BUCKET...
// Every bucket is created in website mode. Prints "ready" once it listens.
import { promises as fs } from 'node:fs'
import S3rver from 's3rver'

const [dir, port, websiteXml, ...buckets] = process.argv.slice(2)
if (!dir || !port || !websiteXml) throw new Error('usage: s3rver-main.ts DIR PORT WEBSITE_XML BUCKET...')
const website = await fs.readFile(websiteXml, 'utf8')
const server = new S3rver({ directory: dir, address: '127.0.0.1', port: Number(port), silent: true, configureBuckets: buckets.map((name) => ({ name, configs: [website] })) })
await server.run()
process.stdout.write('ready\n')
