#!/usr/bin/env bash
# Run a generated ocisite nginx config on loopback, in the foreground, without touching the
# system nginx. Usage: nginx/run.sh SITE_CONF   (e.g. example-site/nginx.conf from `npm run example`)
set -euo pipefail
site_conf=${1:-example-site/nginx.conf}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$site_conf" ] || { echo "nginx/run.sh: $site_conf not found; run 'npm run example' first" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx/run.sh: nginx is not installed (apt-get install -y nginx)" >&2; exit 2; }
prefix=$(mktemp -d /tmp/ocisite-nginx.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
cp "$here/nginx.conf" "$prefix/conf/nginx.conf"
cp "$site_conf" "$prefix/conf/site.conf"
nginx -p "$prefix" -c conf/nginx.conf -e "$prefix/logs/error.log" -t
echo "nginx: serving $(grep -m1 -o 'root [^;]*' "$site_conf") on $(grep -m1 -o 'listen [^;]*' "$site_conf"); Ctrl-C to stop"
# Workers run as the invoking user, so a site under a private home directory is readable.
# (Production nginx runs workers unprivileged: ocisite writes files 0644 and directories 0755.)
nginx -p "$prefix" -c conf/nginx.conf -e "$prefix/logs/error.log" -g "daemon off; user $(id -un) $(id -gn);"
