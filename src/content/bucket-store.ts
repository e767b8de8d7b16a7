import { createReadStream } from 'node:fs'
import { PassThrough, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { OcisiteError } from '../errors.js'
import type { Descriptor } from '../oci/descriptor.js'
import { createDigester, parseDigest } from '../oci/digest.js'
import type { Blob, Storage } from './storage.js'
import { chunksOf } from '../fs/filler.js'
import { checkDigest } from './ingest/verify.js'

/** Where a bucket site lives: `s3://BUCKET[/PREFIX]`, and how to reach it. */
export interface BucketOptions {
  /** An S3-compatible endpoint (MinIO, R2, s3rver); default: AWS for the region. */
  endpoint?: string
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible stores need. */
  pathStyle?: boolean
  region?: string
}

export interface BucketLocation {
  bucket: string
  /** Key prefix, empty or ending in `/`. */
  prefix: string
  url: string
}

export function parseBucketUrl(url: string): BucketLocation {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url)
  if (!m) throw new OcisiteError('CONFIG_INVALID', `${url}: not a bucket URL; use s3://BUCKET or s3://BUCKET/PREFIX (a bucket name is 3-63 lowercase letters, digits, "." and "-")`)
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '')
  if (prefix.split('/').some((s) => s === '.' || s === '..')) throw new OcisiteError('CONFIG_INVALID', `${url}: the prefix may not contain "." or ".." segments`)
  return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : '', url }
}

/** An object as a listing gives it. */
export interface ListedObject {
  size: number
  etag: string
}

/** An object as GET or HEAD gives it: its size, the headers the bucket keeps, a website redirect, and (GET) its body. */
export interface StoredObject {
  size: number
  contentType?: string
  cacheControl?: string
  redirect?: string
  body?: Readable
}

/** One S3 call's failure as one clear line: a missing bucket or refused credentials are the user's (exit 2), the rest the network's (exit 4). */
export function bucketError(err: unknown, what: string, where: BucketLocation): OcisiteError {
  if (err instanceof OcisiteError) return err
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } }
  const name = e.name ?? ''
  const status = e.$metadata?.httpStatusCode
  if (name === 'NoSuchBucket') return new OcisiteError('CONFIG_INVALID', `${where.url}: bucket ${where.bucket} does not exist (${what})`, { bucket: where.bucket })
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'CredentialsProviderError'].includes(name) || status === 403) {
    return new OcisiteError('CONFIG_INVALID', `${where.url}: the credentials were refused (${name || `HTTP ${status}`}: ${what}); check AWS_ACCESS_KEY_ID / AWS_PROFILE and the bucket's policy`, { bucket: where.bucket })
  }
  if (/region is missing/i.test(e.message ?? '')) return new OcisiteError('CONFIG_INVALID', `${where.url}: no region: pass --region or set AWS_REGION`)
  if (err instanceof S3ServiceException) return new OcisiteError('PROTOCOL', `${where.url}: ${what}: ${name} (HTTP ${status ?? '?'}): ${e.message ?? ''}`, { bucket: where.bucket })
  return new OcisiteError('NETWORK', `${where.url}: ${what}: ${e.code ?? name ?? ''} ${e.message ?? String(err)}`.replace(/\s+/g, ' ').trim(), { bucket: where.bucket })
}

/**
 * A bucket, through the official AWS SDK: credentials and region from the standard chain (the
 * environment, a profile), retries with backoff on 5xx and throttling.
 */
export class Bucket {
  readonly client: S3Client
  /** HTTP requests sent so far (each retry counts). */
  requests = 0
  constructor(
    readonly where: BucketLocation,
    options: BucketOptions,
  ) {
    this.client = new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.pathStyle ?? false,
      ...(options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ? { region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION } : options.endpoint ? { region: 'us-east-1' } : {}),
      maxAttempts: 5,
      retryMode: 'standard',
      // S3-compatible stores (MinIO, R2, s3rver) do not all take the newer streaming checksums;
      // every blob's digest is checked by ocisite itself.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    })
    // Inside the retry loop: one count per request that goes out.
    this.client.middlewareStack.add((next) => (args) => {
      this.requests++
      return next(args)
    }, { step: 'finalizeRequest', priority: 'low', name: 'ocisiteRequestCount' })
  }

  key(rel: string): string {
    return `${this.where.prefix}${rel}`
  }

  /** Every object under the prefix (one paginated listing), by key relative to the prefix. */
  async list(): Promise<Map<string, ListedObject>> {
    const out = new Map<string, ListedObject>()
    let token: string | undefined
    do {
      const page = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: this.where.prefix || undefined, ContinuationToken: token }))
        .catch((err: unknown) => {
          throw bucketError(err, 'listing the bucket', this.where)
        })
      for (const o of page.Contents ?? []) if (o.Key) out.set(o.Key.slice(this.where.prefix.length), { size: o.Size ?? 0, etag: (o.ETag ?? '').replace(/"/g, '') })
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return out
  }

  /** Keys (relative to the prefix) below `under`, with sizes: a listing of that folder only. */
  async listUnder(under: string): Promise<Map<string, ListedObject & { modified?: Date }>> {
    const out = new Map<string, ListedObject & { modified?: Date }>()
    let token: string | undefined
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: this.key(under), ContinuationToken: token })).catch((err: unknown) => {
        throw bucketError(err, `listing ${under}`, this.where)
      })
      for (const o of page.Contents ?? []) if (o.Key) out.set(o.Key.slice(this.where.prefix.length), { size: o.Size ?? 0, etag: (o.ETag ?? '').replace(/"/g, ''), ...(o.LastModified ? { modified: o.LastModified } : {}) })
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return out
  }

  /** An object's size, or undefined when there is none. */
  async head(rel: string): Promise<{ size: number } | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.where.bucket, Key: this.key(rel) }))
      return { size: r.ContentLength ?? 0 }
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined
      throw bucketError(err, `checking ${rel}`, this.where)
    }
  }

  /** A small object's bytes (at most `limit`), or undefined when there is none. */
  async read(rel: string, limit: number): Promise<Buffer | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: this.key(rel) }))
      if ((r.ContentLength ?? 0) > limit) throw new OcisiteError('STATE_INVALID', `${this.where.url}: ${rel} is ${r.ContentLength} bytes, over the ${limit}-byte limit`)
      return Buffer.from(await r.Body!.transformToByteArray())
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } }
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined
      throw bucketError(err, `reading ${rel}`, this.where)
    }
  }

  /**
   * Put-if-absent (`If-None-Match: *`): true when this call created the object, false when one
   * was already there (412; 409 is a concurrent creation of the same key, which also lost).
   */
  async create(rel: string, body: Buffer, headers: { contentType?: string; cacheControl?: string } = {}): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.where.bucket, Key: this.key(rel), Body: body, IfNoneMatch: '*', ...(headers.contentType ? { ContentType: headers.contentType } : {}), ...(headers.cacheControl ? { CacheControl: headers.cacheControl } : {}) }))
      return true
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
      if (status === 412 || status === 409) return false
      throw bucketError(err, `creating ${rel}`, this.where)
    }
  }

  /** `metadata`: `x-amz-meta-*` headers (S3 sends no other headers of an object's own choosing). */
  async put(rel: string, body: Buffer, headers: { contentType?: string; cacheControl?: string; redirect?: string; metadata?: Record<string, string> }): Promise<void> {
    await this.client
      .send(
        new PutObjectCommand({
          Bucket: this.where.bucket,
          Key: this.key(rel),
          Body: body,
          ...(headers.contentType ? { ContentType: headers.contentType } : {}),
          ...(headers.cacheControl ? { CacheControl: headers.cacheControl } : {}),
          ...(headers.redirect ? { WebsiteRedirectLocation: headers.redirect } : {}),
          ...(headers.metadata ? { Metadata: headers.metadata } : {}),
        }),
      )
      .catch((err: unknown) => {
        throw bucketError(err, `uploading ${rel}`, this.where)
      })
  }

  /** Upload a stream of unknown length: multipart for large ones, parts in parallel. */
  async upload(rel: string, body: Readable, headers: { contentType: string; cacheControl: string }, onPart?: (loaded: number) => void): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.where.bucket, Key: this.key(rel), Body: body, ContentType: headers.contentType, CacheControl: headers.cacheControl },
      // Parts in flight are buffered: 8 MiB × 4 keeps memory flat and still overlaps the uploads.
      partSize: 8 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    })
    if (onPart) upload.on('httpUploadProgress', (p) => p.loaded !== undefined && onPart(p.loaded))
    await upload.done().catch((err: unknown) => {
      throw bucketError(err, `uploading ${rel}`, this.where)
    })
  }

  async remove(rels: string[]): Promise<void> {
    for (let i = 0; i < rels.length; i += 1000) {
      const batch = rels.slice(i, i + 1000)
      const r = await this.client
        .send(new DeleteObjectsCommand({ Bucket: this.where.bucket, Delete: { Objects: batch.map((rel) => ({ Key: this.key(rel) })), Quiet: true } }))
        .catch((err: unknown) => {
          throw bucketError(err, 'deleting objects', this.where)
        })
      const failed = r.Errors?.[0]
      if (failed) throw new OcisiteError('PROTOCOL', `${this.where.url}: deleting ${failed.Key}: ${failed.Code} ${failed.Message ?? ''}`.trim())
    }
  }

  /** An object with the headers the bucket keeps for it (HEAD, or GET with its body); undefined when there is none. */
  async object(rel: string, method: 'GET' | 'HEAD'): Promise<StoredObject | undefined> {
    const input = { Bucket: this.where.bucket, Key: this.key(rel) }
    try {
      const r = method === 'GET' ? await this.client.send(new GetObjectCommand(input)) : await this.client.send(new HeadObjectCommand(input))
      const body = 'Body' in r ? (r.Body as Readable) : undefined
      return { size: r.ContentLength ?? 0, ...(r.ContentType ? { contentType: r.ContentType } : {}), ...(r.CacheControl ? { cacheControl: r.CacheControl } : {}), ...(r.WebsiteRedirectLocation ? { redirect: r.WebsiteRedirectLocation } : {}), ...(body ? { body } : {}) }
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } }
      if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return undefined
      throw bucketError(err, `${method === 'GET' ? 'reading' : 'checking'} ${rel}`, this.where)
    }
  }

  async get(rel: string): Promise<Readable> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: this.key(rel) })).catch((err: unknown) => {
      throw bucketError(err, `reading ${rel}`, this.where)
    })
    return r.Body as Readable
  }
}

/**
 * The blobs of a bucket site (`oci-cas/…`) as a content store. `exists` trusts one listing of
 * the bucket (a content-addressed object of the right size); `push` hashes the bytes as they
 * stream up and removes the object again if they are not what the descriptor says.
 */
export class BucketStore implements Storage {
  readonly label: string
  constructor(
    private readonly bucket: Bucket,
    private readonly listing: Map<string, ListedObject>,
    private readonly keyOf: (desc: Descriptor) => string,
    private readonly headers: { contentType: string; cacheControl: string },
  ) {
    this.label = bucket.where.url
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.listing.get(this.keyOf(desc))?.size === desc.size
  }

  async fetch<T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T> {
    return use({ stream: await this.bucket.get(this.keyOf(desc)), label: `${this.label}/${this.keyOf(desc)}` })
  }

  async push(desc: Descriptor, bytes: Blob, onBytes?: (n: number) => void): Promise<void> {
    const digest = parseDigest(desc.digest, this.label)
    const source: Readable = 'file' in bytes ? createReadStream(bytes.file, { highWaterMark: 1024 * 1024 }) : Readable.from('filler' in bytes ? chunksOf(bytes.filler) : bytes.stream)
    const hash = createDigester(digest.algorithm)
    let size = 0
    const body = new PassThrough({ highWaterMark: 1024 * 1024 })
    const counting = pipeline(
      source,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk)
          size += chunk.byteLength
          onBytes?.(chunk.byteLength)
          yield chunk
        }
      },
      body,
    )
    const key = this.keyOf(desc)
    await Promise.all([counting, this.bucket.upload(key, body, this.headers)])
    try {
      checkDigest({ digest, size: desc.size, label: bytes.label }, size, hash.digest('hex'))
    } catch (err) {
      await this.bucket.remove([key])
      throw err
    }
    this.listing.set(key, { size, etag: '' })
  }
}
