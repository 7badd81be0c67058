#!/usr/bin/env bash
# Runs a distributed wasm-slo test on the current kubectl context: N runner
# pods each run one segment of SCENARIO.wasm from a common start time, a
# merge pod adds their results up; prints the merged summary and exits with
# the test's exit code (0 pass, 99 an SLO failed, ...).
#
#   deploy/kubernetes/launch.sh SCENARIO.wasm [options] [-- RUN FLAGS...]
#
#   --segments N     runner pods, one segment each (default 4)
#   --slo FILE       SLO file (default: deploy/kubernetes/slo.toml)
#   --base-url URL   the scenario's BASE_URL (default: run.env's)
#   --image IMAGE    runner image (default: kustomization.yaml's), e.g.
#                    registry.example.com/wasm-slo:0.1.0
#   --lead SECONDS   from now until the load starts: time to schedule the
#                    pods, pull the image and set up (default 90)
#   -n NAMESPACE     namespace (default: the context's)
#   -- FLAGS...      extra flags for every `wasm-slo run` (split at spaces),
#                    e.g. -- --vus 2000 --duration 10m
#
# Needs kubectl 1.27+ (kustomize built in) and a cluster with Kubernetes
# 1.29+ (backoffLimitPerIndex) and a ReadWriteMany storage class. The module
# travels in a ConfigMap (1 MiB at most): build it with `--profile guest`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

die() { echo "error: $*" >&2; exit 2; }
env_default() { sed -n "s/^$1=//p" "$here/run.env"; }

module="" segments=4 slo="$here/slo.toml" base_url="$(env_default BASE_URL)"
image="" lead=90 ns=() run_args=""
while [ $# -gt 0 ]; do
  case "$1" in
    --segments) segments="${2:?}"; shift 2 ;;
    --slo) slo="${2:?}"; shift 2 ;;
    --base-url) base_url="${2:?}"; shift 2 ;;
    --image) image="${2:?}"; shift 2 ;;
    --lead) lead="${2:?}"; shift 2 ;;
    -n|--namespace) ns=(-n "${2:?}"); shift 2 ;;
    --) shift; run_args="$*"; break ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$module" ] || die "one scenario module, got $module and $1"; module="$1"; shift ;;
  esac
done
[ -n "$module" ] || die "give the scenario module: launch.sh SCENARIO.wasm (see --help)"
[ -f "$module" ] || die "cannot read $module"
[ -f "$slo" ] || die "cannot read the SLO file $slo"
[[ "$segments" =~ ^[1-9][0-9]*$ ]] || die "--segments $segments: give a whole number from 1"
[[ "$lead" =~ ^[0-9]+$ ]] || die "--lead $lead: give whole seconds"
size=$(wc -c <"$module")
[ "$size" -le 1000000 ] || die "$module is $size bytes; a ConfigMap holds 1 MiB: build it with cargo build --profile guest --target wasm32-wasip2"
command -v kubectl >/dev/null || die "kubectl is not installed"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here"/kustomization.yaml "$here"/results-pvc.yaml "$here"/run-job.yaml "$here"/merge-job.yaml "$work"/
cp "$module" "$work/scenario.wasm"
cp "$slo" "$work/slo.toml"
sed -i -E "s/^(  (completions|parallelism|maxFailedIndexes)): [0-9]+$/\1: $segments/" "$work/run-job.yaml"
if [ -n "$image" ]; then
  name="$image" tag="latest"
  # A tag is after the last ':' of the last path element (not a registry port).
  if [[ "${image##*/}" == *:* ]]; then name="${image%:*}" tag="${image##*:}"; fi
  sed -i -E "s|^(    newName:).*|\1 $name|; s|^(    newTag:).*|\1 \"$tag\"|" "$work/kustomization.yaml"
fi
start_at=$(( $(date +%s) + lead ))
run_id="run-$(date -u +%Y%m%dT%H%M%SZ)"
cat >"$work/run.env" <<ENV
SEGMENTS=$segments
START_AT=$start_at
RUN_ID=$run_id
BASE_URL=$base_url
RUN_ARGS=$run_args
MERGE_ARGS=
MERGE_WAIT_SECONDS=$(( lead + 86400 ))
ENV

# Jobs cannot be changed in place: the previous run's go first.
kubectl "${ns[@]}" delete job wasm-slo-run wasm-slo-merge --ignore-not-found --wait=true
kubectl "${ns[@]}" apply -k "$work"
echo "$segments segments start at $(date -u -d "@$start_at" +%FT%TZ 2>/dev/null || echo "$start_at"); results: $run_id/ on volume wasm-slo-results"

while :; do
  state=$(kubectl "${ns[@]}" get job wasm-slo-merge -o jsonpath='{.status.succeeded}/{.status.failed}')
  case "$state" in 1/* | */1) break ;; esac
  sleep 5
done
kubectl "${ns[@]}" logs job/wasm-slo-merge
code=$(kubectl "${ns[@]}" get pods -l job-name=wasm-slo-merge \
  -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
exit "${code:-1}"
