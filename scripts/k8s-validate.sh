#!/usr/bin/env bash
# Validates the Kubernetes manifests offline: renders every overlay of deploy/k8s with
# `kubectl kustomize`, checks the result against the Kubernetes API schemas (kubernetes-validate,
# strict), against the seizure-ops binary's own command line (every subcommand, flag, variable,
# port and probe path must be one the sources define), and with checkov's Kubernetes
# policies. Idempotent: the validators live in a venv outside the clone, rebuilt only when
# scripts/requirements-k8s.txt changes. Exits non-zero on any failure. docs/kubernetes.md.
#   SEIZURE_OPS_TOOLS   where the venv goes (default ~/.cache/seizure-ops)
#   K8S_VERSION         the Kubernetes version to validate against (default 1.30.0)
#   SEIZURE_OPS_BIN     a built seizure-ops: each container's flags and variables are then
#                       checked against the --help of the subcommand it runs (required in CI)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
k8s_version=${K8S_VERSION:-1.30.0}
overlays=(dev prod)
started=$SECONDS

# Checks that may fail, each with why. Any other failed check fails the script.
declare -A checkov_skips=(
  # The deployment pins a tag per release (kustomize `images:`); with a fixed tag, Always only
  # adds a registry round trip per pod start, and the brief asks for IfNotPresent.
  [CKV_K8S_15]="imagePullPolicy IfNotPresent on purpose: the overlays pin an explicit release tag"
  # A digest is only known once the release image is pushed; the CD step sets it with
  # `kustomize edit set image seizure-ops=REGISTRY/seizure-ops@sha256:...` (docs/kubernetes.md).
  [CKV_K8S_43]="the digest is set at release time by kustomize edit set image; the repo pins a tag"
)
# Custom resources kubernetes-validate has no schema for: allowed (and reported) only if
# listed here. None is rendered today (the request-rate HPA uses prometheus-adapter, not KEDA).
allowed_crds=("ScaledObject keda.sh/v1alpha1" "ServiceMonitor monitoring.coreos.com/v1")

say() { echo "k8s-validate: $*"; }

# shellcheck source=lib/venv.sh
source "$here/lib/venv.sh"

install_venv "$tools" venv-k8s "$here/requirements-k8s.txt" | sed "s/^/k8s-validate: /"
venv="$tools/venv-k8s"
if command -v kubectl > /dev/null; then
  kustomize=(kubectl kustomize)
elif command -v kustomize > /dev/null; then
  kustomize=(kustomize build)
else
  # The PyPI wheel from scripts/requirements-k8s.txt.
  kustomize=("$venv/bin/kubectl" kustomize)
fi
if [[ ${kustomize[1]} == kustomize ]]; then
  say "$("${kustomize[0]}" version --client 2>/dev/null | tr '\n' ' ')"
fi
say "kubernetes-validate $("$venv/bin/kubernetes-validate" --version), checkov $("$venv/bin/checkov" --version)"

if [[ -z "${SEIZURE_OPS_BIN:-}" ]]; then
  if [[ -n "${CI:-}" ]]; then
    say "SEIZURE_OPS_BIN is required in CI (the --help cross-check)" >&2
    exit 1
  fi
  say "SKIPPED: the --help cross-check (SEIZURE_OPS_BIN unset; the sources are checked instead)"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=()
rendered=()
for overlay in "${overlays[@]}"; do rendered+=("$work/$overlay.yaml"); done

# 1. Render.
for overlay in "${overlays[@]}"; do
  if ! "${kustomize[@]}" "$root/deploy/k8s/overlays/$overlay" > "$work/$overlay.yaml" 2> "$work/$overlay.err"; then
    cat "$work/$overlay.err" >&2
    failures+=("kustomize $overlay")
    continue
  fi
  say "rendered overlays/$overlay: $(grep -c '^kind: ' "$work/$overlay.yaml") resources"
done
if (( ${#failures[@]} )); then
  say "FAILED: ${failures[*]}" >&2
  exit 1
fi

# 2. The Kubernetes API schemas, strict (unknown fields are errors). A kind without a schema
# is only a warning to kubernetes-validate: here it fails unless it is a listed CRD.
for overlay in "${overlays[@]}"; do
  log="$work/$overlay.validate"
  if "$venv/bin/kubernetes-validate" --kubernetes-version "$k8s_version" --strict \
      "$work/$overlay.yaml" > "$log" 2>&1; then
    status=0
  else
    status=$?
  fi
  grep -E '^(ERROR|WARN)' "$log" >&2 || true
  passed=$(grep -c '^INFO .* passed for resource' "$log" || true)
  missing=0
  while IFS= read -r line; do
    kind=$(sed -E 's/.*schema for kind ([^ ]+) with api version ([^ ]+) .*/\1 \2/' <<< "$line")
    allowed=no
    for crd in "${allowed_crds[@]}"; do [[ "$kind" == "$crd" ]] && allowed=yes; done
    if [[ $allowed == yes ]]; then
      say "note: $kind is a custom resource: no offline schema, not schema-validated (listed in allowed_crds)"
    else
      say "no schema for $kind, and it is not a listed custom resource (typo in apiVersion/kind?)" >&2
      missing=$((missing + 1))
    fi
  done < <(grep "Couldn't find schema" "$log" || true)
  if (( status != 0 || missing != 0 )); then
    failures+=("kubernetes-validate $overlay")
  fi
  say "kubernetes-validate $k8s_version --strict overlays/$overlay: $passed resources passed, exit $status"
done

# 3. The binary's command line, from its sources; and the Job and the CronJob in step.
if ! "$venv/bin/python" - "$root" "${rendered[@]}" <<'PY'
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

root = Path(sys.argv[1])
sources = {p: p.read_text() for d in ("apps", "services", "crates") for p in (root / d).rglob("src/**/*.rs")}
everything = "\n".join(sources.values())
# clap `env = "NAME"` declarations, and variables read directly (std::env::var("NAME")).
declared_env = set(re.findall(r'env\s*=\s*"([A-Z0-9_]+)"', everything))
read_env = set(re.findall(r'std::env::var(?:_os)?\("([A-Z0-9_]+)"\)', everything))
# S3Remote::from_env reads every credential variable V from the file named by V_FILE, and the
# region from AWS_REGION / AWS_DEFAULT_REGION (crates/dvc-remote/src/lib.rs).
dvc_remote = (root / "crates/dvc-remote/src/lib.rs").read_text()
file_form = 'format!("{name}_FILE")' in dvc_remote
remote_vars = set(re.findall(r'var\("(AWS_[A-Z_]+)"\)', dvc_remote))
# Long flags: clap derives `--foo-bar` from a field `foo_bar` marked #[arg(long ...)].
fields = set(re.findall(r'#\[arg\([^\]]*\blong\b[^\]]*\)\]\s*(?:///[^\n]*\s*)*pub\s+([a-z0-9_]+)\s*:', everything))
fields |= set(re.findall(r'#\[arg\(\s*long\s*,[^\]]*\)\]\s*pub\s+([a-z0-9_]+)\s*:', everything, re.S))
renamed = set(re.findall(r'long\s*=\s*"([a-z0-9-]+)"', everything))
subcommands = {"auth", "inference", "training", "evaluate", "patient-pull", "preprocessing", "cv", "tune"}
second_level = {"evaluate": {"run", "rollback"}, "preprocessing": {"run", "synth"}}
routes = set(re.findall(r'\.route\(\s*"([^"]+)"', everything))

problems = []
def check_env(where, name):
    if name in declared_env or name in read_env:
        return
    if name.endswith("_FILE") and file_form and name[: -len("_FILE")] in remote_vars:
        return
    if name in remote_vars:
        return
    problems.append(f"{where}: environment variable {name} is read by no seizure-ops source")

def check_words(where, words):
    words = list(words)
    if not words:
        return
    if words[0] == "seizure-ops":
        words = words[1:]
    if not words or words[0] not in subcommands:
        problems.append(f"{where}: {words[:1]} is not a seizure-ops subcommand")
        return
    if words[0] in second_level and (len(words) < 2 or words[1] not in second_level[words[0]]):
        problems.append(f"{where}: {words[:2]} is not a seizure-ops subcommand")
    for w in words:
        if w.startswith("--"):
            flag = w[2:].split("=")[0]
            if flag.replace("-", "_") not in fields and flag not in renamed:
                problems.append(f"{where}: flag --{flag} is declared by no seizure-ops source")

def pod_specs(doc):
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "Job"):
        yield spec["template"]
    elif doc["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]

# With the built binary (SEIZURE_OPS_BIN): each container's flags and variables must be in
# the `--help` of the very subcommand it runs (clap prints `[env: NAME=]`, or `[env: NAME]` for a secret whose value it hides), not only somewhere
# in the sources. Variables read outside clap (the S3 credentials) are checked as above.
binary = os.environ.get("SEIZURE_OPS_BIN")
helps = {}

def help_of(words):
    key = tuple(w for w in words[:2] if not w.startswith("-"))
    if key and key[0] in second_level:
        key = key[:2]
    else:
        key = key[:1]
    if key not in helps:
        out = subprocess.run([binary, *key, "--help"], capture_output=True, text=True)
        if out.returncode != 0:
            problems.append(f"`seizure-ops {' '.join(key)} --help` failed: {out.stderr.strip()}")
        helps[key] = (set(re.findall(r"--([a-z0-9][a-z0-9-]*)", out.stdout)),
                      set(re.findall(r"\[env: ([A-Z0-9_]+)[=\]]", out.stdout)))
    return helps[key]

# `cv` runs the stages in-process and reads their variables (the remote, the tracker, the
# recipe) as each stage's own binary does: its containers may set those too.
runs_stages = {"cv": [["preprocessing", "run"], ["training"], ["evaluate", "run"]],
               "tune": [["preprocessing", "run"], ["training"], ["evaluate", "run"]]}

def check_against_help(where, command_lines, env_names):
    flags, envs = set(), set()
    for words in command_lines:
        words = words[1:] if words and words[0] == "seizure-ops" else words
        if not words:
            continue
        f, e = help_of(words)
        flags |= f
        envs |= e
        for stage in runs_stages.get(words[0], []):
            envs |= help_of(stage)[1]
        for w in words:
            if w.startswith("--") and w[2:].split("=")[0] not in f:
                problems.append(f"{where}: {w} is not in `seizure-ops {words[0]} --help`")
    for name in env_names:
        outside_clap = name in read_env or name in remote_vars or (
            name.endswith("_FILE") and name[: -len("_FILE")] in remote_vars)
        if name not in envs and not outside_clap:
            problems.append(f"{where}: {name} is not a variable of the subcommand it runs "
                            f"(not in its --help)")

def memory_bytes(quantity):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)

def check_footprint(where, c, envs):
    """The inference caps' worst case fits the container's memory limit (docs/hardening.md,
    "Memory budget"): `seizure-ops inference --check-footprint` with the container's values."""
    limit = c.get("resources", {}).get("limits", {}).get("memory")
    if limit is None:
        problems.append(f"{where}: the inference container has no memory limit")
        return
    env = {"PATH": os.environ.get("PATH", ""), "MEMORY_LIMIT_BYTES": str(memory_bytes(limit))}
    env.update({k: v for k, v in envs.items() if v is not None})
    out = subprocess.run([binary, "inference", "--check-footprint"], capture_output=True,
                         text=True, env=env)
    if out.returncode != 0:
        problems.append(f"{where}: the caps do not fit its {limit}: {out.stderr.strip()}")
    else:
        print(f"k8s-validate: {where}: {out.stdout.strip()} (limit {limit})")

def check_container(where, c):
    envs = {}
    for e in c.get("env", []):
        check_env(where, e["name"])
        envs[e["name"]] = e.get("value")
    command, args = c.get("command"), c.get("args", [])
    command_lines = []
    if command == ["/bin/sh", "-c"]:
        # compose's preprocessing script: every `seizure-ops ...` command line in it.
        for line in re.findall(r"seizure-ops\s+([^;&|]+)", " ".join(args)):
            check_words(where, line.split())
            command_lines.append(line.split())
    elif command is None:
        check_words(where, args)
        command_lines.append(list(args))
    else:
        problems.append(f"{where}: unexpected command {command}")
    if binary:
        check_against_help(where, command_lines, envs)
        if any(line[:1] == ["inference"] for line in command_lines):
            check_footprint(where, c, envs)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for key in ("AUTH_LISTEN", "INFERENCE_LISTEN"):
        if key in envs and int(envs[key].rsplit(":", 1)[1]) not in ports.values():
            problems.append(f"{where}: {key}={envs[key]} but the container ports are {ports}")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = c.get(probe, {}).get("httpGet")
        if get:
            if get["path"] not in routes:
                problems.append(f"{where}: {probe} path {get['path']} is not a route of any service")
            if get["port"] not in ports and get["port"] not in ports.values():
                problems.append(f"{where}: {probe} port {get['port']} is not a container port")
    return ports

for rendered in sys.argv[2:]:
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    label = Path(rendered).stem
    templates = {}
    for doc in docs:
        for template in pod_specs(doc):
            name = f"{label}/{doc['kind']}/{doc['metadata']['name']}"
            templates[name] = template
            spec = template["spec"]
            ports = {}
            for c in spec.get("initContainers", []) + spec["containers"]:
                ports.update(check_container(f"{name}/{c['name']}", c))
            annotations = template["metadata"].get("annotations", {})
            if annotations.get("prometheus.io/scrape") == "true":
                if int(annotations["prometheus.io/port"]) not in ports.values():
                    problems.append(f"{name}: prometheus.io/port is not a container port")
                if annotations["prometheus.io/path"] not in routes:
                    problems.append(f"{name}: prometheus.io/path is not a route")
    # Work fanned out (cv folds, tune trials): one pod per member, as many completions as the
    # pods' count (pod 0 gathers them all); cv runs every fold at once.
    fanned = {"cv": ("--folds", True), "tune": ("--trials", False)}
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "CronJob" and name in fanned:
            flag, all_at_once = fanned[name]
            job = doc["spec"]["jobTemplate"]["spec"]
            script = " ".join(job["template"]["spec"]["containers"][0].get("args", []))
            counts = {int(c) for c in re.findall(flag + r"\s+(\d+)", script)}
            if job.get("completionMode") != "Indexed":
                problems.append(f"{label}/CronJob/{name}: completionMode is not Indexed")
            if len(counts) != 1 or job.get("completions") not in counts:
                problems.append(f"{label}/CronJob/{name}: completions {job.get('completions')} "
                                f"and {flag} {sorted(counts)} differ")
            if all_at_once and job.get("parallelism") != job.get("completions"):
                problems.append(f"{label}/CronJob/{name}: parallelism is not completions")
            # Pod 0 holds its slot while it gathers: one slot alone would wait for nothing.
            if not 2 <= job.get("parallelism", 1) <= job.get("completions", 1):
                problems.append(f"{label}/CronJob/{name}: parallelism out of 2..completions")
            if job.get("maxFailedIndexes") != 0:
                problems.append(f"{label}/CronJob/{name}: maxFailedIndexes is not 0 (pod 0 "
                                f"would wait out its gathering for a failed member)")
    # The one-shot Job and the CronJob run the same pod, but for who promotes.
    job, cron = templates.get(f"{label}/Job/pipeline"), templates.get(f"{label}/CronJob/retrain")
    if job is None or cron is None:
        problems.append(f"{label}: the pipeline Job or the retrain CronJob is missing")
    else:
        def without_actor(t):
            t = yaml.safe_load(yaml.safe_dump(t))
            for c in t["spec"].get("initContainers", []) + t["spec"]["containers"]:
                c["env"] = [e for e in c.get("env", []) if e["name"] != "PROMOTED_BY"]
            return t
        if without_actor(job) != without_actor(cron):
            problems.append(f"{label}: the Job pipeline and the CronJob retrain pod templates differ")
    against = f"each subcommand's --help of {binary}" if binary else "the sources only (SEIZURE_OPS_BIN unset)"
    print(f"k8s-validate: command line ({against}), ports, probe paths, Job = CronJob: overlays/{label} checked")

for p in problems:
    print(f"k8s-validate: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
then
  failures+=("command-line cross-check")
fi

# 4. checkov's Kubernetes policies on the rendered output. Failed checks listed in
# checkov_skips are counted as skipped (with their reason), any other fails the script.
mkdir -p "$work/checkov"
cp "${rendered[@]}" "$work/checkov/"
"$venv/bin/checkov" --directory "$work/checkov" --framework kubernetes --skip-download \
  --output json > "$work/checkov.json" 2> "$work/checkov.err" || true
skips=$(for id in "${!checkov_skips[@]}"; do echo "$id"; done)
if ! "$venv/bin/python" - "$work/checkov.json" "$skips" <<'PY'
import collections
import json
import sys

report = json.load(open(sys.argv[1]))
reports = report if isinstance(report, list) else [report]
skips = set(sys.argv[2].split())
passed = failed = skipped = parse_errors = resources = 0
unexpected = collections.defaultdict(list)
justified = collections.Counter()
for r in reports:
    if r.get("check_type") != "kubernetes":
        continue
    summary = r["summary"]
    parse_errors += summary.get("parsing_errors", 0)
    resources += summary.get("resource_count", 0)
    passed += len(r["results"]["passed_checks"])
    skipped += len(r["results"].get("skipped_checks", []))
    for c in r["results"]["failed_checks"]:
        if c["check_id"] in skips:
            justified[c["check_id"]] += 1
        else:
            failed += 1
            unexpected[f'{c["check_id"]} {c["check_name"]}'].append(c["resource"])
skipped += sum(justified.values())
print(f"k8s-validate: checkov: {resources} resources, {passed} passed, {failed} failed, "
      f"{skipped} skipped ({', '.join(f'{k} x{v}' for k, v in sorted(justified.items())) or 'none'}), "
      f"{parse_errors} parsing errors")
for check, where in sorted(unexpected.items()):
    print(f"k8s-validate: checkov FAILED {check}: {', '.join(where)}", file=sys.stderr)
sys.exit(1 if failed or parse_errors or resources == 0 else 0)
PY
then
  failures+=("checkov")
  sed -n '1,20p' "$work/checkov.err" >&2
fi
for id in $(printf '%s\n' "${!checkov_skips[@]}" | sort); do
  say "checkov skip $id: ${checkov_skips[$id]}"
done

elapsed=$((SECONDS - started))
if (( ${#failures[@]} )); then
  say "FAILED (${elapsed} s): ${failures[*]}" >&2
  exit 1
fi
say "all checks passed for overlays ${overlays[*]} (${elapsed} s)"
