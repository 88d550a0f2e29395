#!/usr/bin/env node
// Set-up run before `npm test` and `npm run demo` (npm pre-scripts) on a fresh Debian 12 machine
// with Node 20: installs the npm dependencies when node_modules is missing or older than the lock
// file, and the Debian packages headless WebGPU needs (Mesa EGL/GLES for Dawn's llvmpipe path;
// Chromium too with --browser). Idempotent and quick when everything is there. Without root and
// with packages missing it prints the exact apt-get command and exits 1.
// Uses nothing but Node's standard library: it runs before any dependency is installed.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
if (args.has('--help') || args.has('-h')) {
  console.log(`usage: node scripts/setup.mjs [--browser]

Installs what altreg needs on Debian: npm packages (npm ci when node_modules is missing or
older than package-lock.json) and the Debian packages libegl1 libegl-mesa0 libgles2 (Dawn on
Mesa llvmpipe); with --browser also chromium (Playwright tests). Runs as root to install
packages; otherwise prints the apt-get command.`);
  process.exit(0);
}

const say = (line) => process.stderr.write(`setup: ${line}\n`);

function npmDependencies() {
  const lock = join(root, 'package-lock.json');
  const marker = join(root, 'node_modules', '.package-lock.json');
  const fresh = existsSync(marker) && existsSync(lock) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
  if (fresh) return;
  say('installing npm packages (npm ci)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    say('npm ci failed');
    process.exit(1);
  }
}

function missingDebianPackages(names) {
  return names.filter((name) => {
    try {
      const status = execFileSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return !status.includes('install ok installed');
    } catch {
      return true;
    }
  });
}

function debianPackages(names) {
  if (!existsSync('/usr/bin/dpkg-query')) {
    say('not a Debian system: make sure Mesa EGL/GLES (and Chromium for browser tests) are installed');
    return;
  }
  const missing = missingDebianPackages(names);
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    say(`missing Debian packages: ${missing.join(' ')}`);
    say(`run as root: ${command}`);
    process.exit(1);
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  // A new machine's package lists may be empty: update once, then install.
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (!install()) {
      say(`apt-get install failed; try: ${command}`);
      process.exit(1);
    }
  }
}

const packages = ['libegl1', 'libegl-mesa0', 'libgles2'];
if (args.has('--browser')) packages.push('chromium');
debianPackages(packages);
npmDependencies();
