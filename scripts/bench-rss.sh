#!/usr/bin/env bash
# Benchmark: publish a layout with a large layer and report peak RSS and time, side by side
# with a baseline (sha256sum of the same layer) measured in the same run. Fails when the peak
# RSS reaches the limit: memory must stay flat whatever the blob size.
#   usage: scripts/bench-rss.sh [LAYER_MIB=1024] [RSS_LIMIT_MB=200]
set -euo pipefail
size_mib=${1:-1024}
limit_mb=${2:-200}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/ocisite-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install -y time)" >&2; exit 2; }

layout="$work/big"
mkdir -p "$layout/blobs/sha256"
echo "bench: writing a ${size_mib} MiB layer..." >&2
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/layer"

measure() { # label, command... → prints "seconds maxrss_kb"
  local out="$work/time.$1"; shift
  /usr/bin/time -v -o "$out" "$@" >/dev/null 2>&1 || true
  local secs rss
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$out")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out")
  echo "$secs $rss"
}

read -r base_s base_rss < <(measure sha256sum sha256sum "$work/layer")
layer_hex=$(sha256sum "$work/layer" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer")
mv "$work/layer" "$layout/blobs/sha256/$layer_hex"
config='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:'$layer_hex'"]}}'
printf '%s' "$config" > "$work/config"
config_hex=$(sha256sum "$work/config" | cut -d' ' -f1); mv "$work/config" "$layout/blobs/sha256/$config_hex"
manifest='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$config_hex'","size":'${#config}'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'$layer_hex'","size":'$layer_size'}]}'
printf '%s' "$manifest" > "$work/manifest"
manifest_hex=$(sha256sum "$work/manifest" | cut -d' ' -f1); mv "$work/manifest" "$layout/blobs/sha256/$manifest_hex"
printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1.0"}}]}' "$manifest_hex" "${#manifest}" > "$layout/index.json"

cd "$repo"
read -r build_s build_rss < <(measure build node --import tsx src/bin.ts build "$layout" --host bench.example --out "$work/site")
read -r again_s again_rss < <(measure rebuild node --import tsx src/bin.ts build "$layout" --host bench.example --out "$work/site")
cmp -s "$layout/blobs/sha256/$layer_hex" "$work/site/oci-cas/sha256/${layer_hex:0:2}/$layer_hex" || { echo "bench: published layer differs from its source" >&2; exit 1; }

# A decompression bomb: a small .tar.gz holding one blob of 3 GiB of zeros. Extracted in flat
# memory (then published), or refused by --max-archive-size: either way memory stays flat.
bomb="$work/bomb"
mkdir -p "$bomb/blobs/sha256"
echo "bench: writing a .tar.gz with 3 GiB of zeros in one blob..." >&2
truncate -s 3G "$work/zeros"
zeros_hex=$(sha256sum "$work/zeros" | cut -d' ' -f1)
mv "$work/zeros" "$bomb/blobs/sha256/$zeros_hex"
zcfg='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:'$zeros_hex'"]}}'
printf '%s' "$zcfg" > "$work/zcfg"; zcfg_hex=$(sha256sum "$work/zcfg" | cut -d' ' -f1); mv "$work/zcfg" "$bomb/blobs/sha256/$zcfg_hex"
zman='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$zcfg_hex'","size":'${#zcfg}'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'$zeros_hex'","size":3221225472}]}'
printf '%s' "$zman" > "$work/zman"; zman_hex=$(sha256sum "$work/zman" | cut -d' ' -f1); mv "$work/zman" "$bomb/blobs/sha256/$zman_hex"
printf '{"imageLayoutVersion":"1.0.0"}' > "$bomb/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1.0"}}]}' "$zman_hex" "${#zman}" > "$bomb/index.json"
tar -C "$bomb" -cf - . | gzip -1 > "$work/bomb.tar.gz"
rm -rf "$bomb"
read -r bomb_s bomb_rss < <(measure bomb node --import tsx src/bin.ts build "$work/bomb.tar.gz" --host bench.example --out "$work/bomb-site")
[ -f "$work/bomb-site/oci-cas/sha256/${zeros_hex:0:2}/$zeros_hex" ] && bomb_result="published" || bomb_result="refused"
rm -rf "$work/bomb-site"

awk -v s="$size_mib" -v bs="$base_s" -v br="$base_rss" -v cs="$build_s" -v cr="$build_rss" -v as="$again_s" -v ar="$again_rss" -v lim="$limit_mb" -v zs="$bomb_s" -v zr="$bomb_rss" -v zres="$bomb_result" 'BEGIN {
  printf "layer: %d MiB\n", s
  printf "%-28s %8s %12s\n", "", "seconds", "peak RSS MB"
  printf "%-28s %8.2f %12.1f\n", "baseline: sha256sum", bs, br/1024
  printf "%-28s %8.2f %12.1f\n", "ocisite build (copy+verify)", cs, cr/1024
  printf "%-28s %8.2f %12.1f\n", "ocisite build (all present)", as, ar/1024
  printf "time ratio build/sha256sum: %.2f\n", (bs > 0 ? cs/bs : 0)
  printf "%-28s %8.2f %12.1f  (%s)\n", "3 GiB-of-zeros .tar.gz", zs, zr/1024, zres
  printf "peak RSS limit: %d MB -> %s\n", lim, (cr/1024 < lim && zr/1024 < lim ? "ok" : "EXCEEDED")
  exit (cr/1024 < lim && zr/1024 < lim ? 0 : 1)
}'
