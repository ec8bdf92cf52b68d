#!/usr/bin/env node
// The operator's main job (README.md). With a cluster configured (KUBECONFIG,
// ~/.kube/config or in-cluster) it runs the operator against it; without one
// it brings up the local development stack. Plain JavaScript because it runs
// before `npm ci` on a fresh clone.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const installed = join(root, "node_modules", ".package-lock.json");
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(join(root, "package-lock.json")).mtimeMs) {
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}
run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);

const clusterConfigured =
  Boolean(process.env.KUBECONFIG) ||
  existsSync(join(homedir(), ".kube", "config")) ||
  Boolean(process.env.KUBERNETES_SERVICE_HOST);
const command = clusterConfigured ? "run" : "dev";
const cli = join(root, "dist", "src", "cli", "main.js");
const result = spawnSync(process.execPath, [cli, command, ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);
