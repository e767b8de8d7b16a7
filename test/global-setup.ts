import { spawnSync } from 'node:child_process'

/** The integration suites use real tools; say plainly what is missing instead of failing obscurely. */
export default function setup(): void {
  const needed = ['nginx', 'skopeo', 'umoci', 'docker-registry', 'podman', 'containerd', 'ctr', 'strace', 'openssl', 'curl', 'unshare', 'script', 'mkfs.xfs', 'gpg', 'jq', 'aws', 'chromium']
  const missing = needed.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0)
  if (missing.length > 0) {
    throw new Error(`the test suites need ${missing.join(', ')}: apt-get update && apt-get install -y nginx skopeo umoci docker-registry podman containerd strace awscli openssl curl xfsprogs gpg jq chromium`)
  }
}
