#!/usr/bin/env node
// The one test command (README.md): installs what the tests need, then runs
// every test. Plain JavaScript with no dependencies, because it runs before
// `npm ci` on a fresh clone. Extra arguments go to ava (e.g. a file glob).
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const started = Date.now();

function step(what, command, args, options = {}) {
  const t0 = Date.now();
  process.stderr.write(`\n== ${what}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", ...options });
  if (result.status !== 0) {
    process.stderr.write(`\n== ${what}: failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status ?? 1);
  }
  process.stderr.write(`== ${what}: ok in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

const installed = join(root, "node_modules", ".package-lock.json");
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(join(root, "package-lock.json")).mtimeMs) {
  step("install npm dependencies (npm ci)", "npm", ["ci", "--no-audit", "--no-fund"]);
}
step("compile (tsc, strict)", process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);
// Builds or installs once what every stack test needs, so that test files
// running in parallel do not all wait on the same build.
step("prepare the local stack (packages, binaries, seed databases)", process.execPath, [join(root, "dist", "test", "support", "prepare.js")]);
step("run all tests (ava)", process.execPath, [join(root, "node_modules", "ava", "entrypoints", "cli.mjs"), ...process.argv.slice(2)]);
process.stderr.write(`\n== all tests passed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
