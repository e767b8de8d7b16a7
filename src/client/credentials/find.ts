import os from 'node:os'
import path from 'node:path'
import { isOcisiteError, type OcisiteError } from '../../errors.js'
import { credentialFromAuths, displayPath, helperFor, readAuthFile, type AuthFile, type KeyStyle } from './auth-file.js'
import { authority, registryHostname, targetOf, type Credential, type CredentialTarget } from './credential.js'
import { envCredential } from './explicit.js'
import { credentialFromHelper } from './helper.js'
import { credentialFromNetrc } from './netrc.js'

/** What to find credentials for. */
export interface CredentialQuery {
  /** The URL that answered 401. */
  url: string | URL
  /**
   * The site the user named on the command line. `--user` and `OCISITE_*` credentials go to its
   * host and port only, never to another host a discovery document or a redirect leads to.
   * Unset: the URL is on no site the user named, so those sources are not asked.
   */
  site?: string | URL
  /** The image path on the host (`private/app`), for containers' `host/namespace` keys. */
  repository?: string
}

/** Where to look, beyond the defaults (process.env, the home directory, the process's uid). */
export interface CredentialSources {
  /** From `--user` and `--password-stdin` (see explicitCredential). */
  explicit?: Credential
  /** OCISITE_*, REGISTRY_AUTH_FILE, XDG_*, DOCKER_CONFIG, HOME, and PATH for the helpers. */
  env?: NodeJS.ProcessEnv
  /** For containers' default auth file when XDG_RUNTIME_DIR is unset (/run/containers/0 for root). */
  uid?: number
  helperTimeoutMs?: number
}

interface Context {
  target: CredentialTarget
  env: NodeJS.ProcessEnv
  home: string
  sources: CredentialSources
  /** A helper that failed: reported only if no later source has credentials. */
  deferred?: OcisiteError
}

/**
 * The containers auth files, in containers/image's order: `$REGISTRY_AUTH_FILE` alone when set;
 * else `$XDG_RUNTIME_DIR/containers/auth.json` (or /run/containers/UID/auth.json, or
 * /run/user/UID/… for others when unset), then `$XDG_CONFIG_HOME/containers/auth.json`.
 */
export function containersAuthFiles(env: NodeJS.ProcessEnv, home: string, uid: number): Array<{ file: string; label: string }> {
  if (env.REGISTRY_AUTH_FILE) return [{ file: env.REGISTRY_AUTH_FILE, label: `$REGISTRY_AUTH_FILE (${displayPath(env.REGISTRY_AUTH_FILE, home)})` }]
  const runtime = env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'containers') : uid === 0 ? '/run/containers/0' : `/run/user/${uid}/containers`
  const configHome = env.XDG_CONFIG_HOME || path.join(home, '.config')
  return [path.join(runtime, 'auth.json'), path.join(configHome, 'containers', 'auth.json')].map((file) => ({ file, label: displayPath(file, home) }))
}

/** Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigFile(env: NodeJS.ProcessEnv, home: string): { file: string; label: string } {
  const file = path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'config.json')
  return { file, label: displayPath(file, home) }
}

async function fromHelper(ctx: Context, doc: AuthFile, style: KeyStyle): Promise<Credential | undefined> {
  const helper = helperFor(doc, ctx.target, style)
  if (!helper) return undefined
  try {
    return await credentialFromHelper(helper.name, registryHostname(ctx.target), { env: ctx.env, via: helper.via, ...(ctx.sources.helperTimeoutMs ? { timeoutMs: ctx.sources.helperTimeoutMs } : {}) })
  } catch (err) {
    // A broken helper should not hide credentials a later source has (containers/image does the same).
    if (!isOcisiteError(err) || err.code !== 'AUTH_FAILED') throw err
    ctx.deferred ??= err
    return undefined
  }
}

async function fromAuthFile(ctx: Context, file: string, label: string, style: KeyStyle): Promise<Credential | undefined> {
  const doc = await readAuthFile(file, label)
  if (!doc) return undefined
  return (await fromHelper(ctx, doc, style)) ?? credentialFromAuths(doc, ctx.target, style)
}

/**
 * Find credentials for the server at `query.url`, in this order: `--user` (sources.explicit),
 * OCISITE_USERNAME/OCISITE_PASSWORD (both only for the site the user named), the containers auth
 * file, docker's config.json (credHelpers, credsStore, then auths), then ~/.netrc. The first
 * source with an entry for the host and port wins. Undefined when none has one; a helper that
 * failed is reported (AUTH_FAILED) only then.
 */
export async function findCredential(query: CredentialQuery, sources: CredentialSources = {}): Promise<Credential | undefined> {
  const target = targetOf(query.url, query.repository)
  const env = sources.env ?? process.env
  const home = env.HOME || os.homedir()
  const ctx: Context = { target, env, home, sources }
  if (query.site !== undefined && authority(target) === authority(targetOf(query.site))) {
    const named = sources.explicit ?? envCredential(env)
    if (named) return named
  }
  const uid = sources.uid ?? process.getuid?.() ?? 0
  for (const { file, label } of containersAuthFiles(env, home, uid)) {
    const found = await fromAuthFile(ctx, file, label, 'containers')
    if (found) return found
  }
  const docker = dockerConfigFile(env, home)
  const found = (await fromAuthFile(ctx, docker.file, docker.label, 'docker')) ?? (await credentialFromNetrc(path.join(home, '.netrc'), '~/.netrc', target))
  if (found) return found
  if (ctx.deferred) throw ctx.deferred
  return undefined
}

/**
 * findCredential with a memory per target and site, for one command's run: helpers are asked
 * once per host, not once per blob. Nothing is written anywhere.
 */
export function credentialResolver(sources: CredentialSources = {}): (query: CredentialQuery) => Promise<Credential | undefined> {
  const memo = new Map<string, Promise<Credential | undefined>>()
  return (query) => {
    const t = targetOf(query.url, query.repository)
    const key = `${t.scheme}://${authority(t)}/${t.repository ?? ''} ${query.site === undefined ? '' : authority(targetOf(query.site))}`
    let found = memo.get(key)
    if (!found) memo.set(key, (found = findCredential(query, sources)))
    return found
  }
}
