// Adds lock entries for platform-specific optional packages that `npm install`
// left out because the registry mirror this project uses does not carry them
// (e.g. @rollup/rollup-darwin-x64). Without these entries `npm ci` refuses the
// lock file ("Missing: ... from lock file"). The entries carry os/cpu, so npm
// skips them on Linux without ever fetching them.
// Usage (after `npm install`): node tools/complete-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['android', 'darwin', 'freebsd', 'linux', 'openbsd', 'openharmony', 'win32', 'sunos', 'netbsd', 'aix'];
const CPU = ['arm64', 'arm', 'x64', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'];

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
let added = 0;

for (const [path, meta] of Object.entries({ ...pkgs })) {
  for (const [name, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    if (pkgs[`node_modules/${name}`] || pkgs[`${path}/node_modules/${name}`]) continue;
    const parts = name.split('/').pop().split('-');
    const os = OS.find((o) => parts.includes(o));
    const cpu = CPU.find((c) => parts.includes(c));
    if (!os || !cpu || !/^\d+\.\d+\.\d+$/.test(spec)) {
      console.warn(`skipped ${name}@${spec} (not a pinned platform package)`);
      continue;
    }
    const entry = { version: spec, cpu: [cpu], ...(meta.dev ? { dev: true } : {}), optional: true, os: [os] };
    if (parts.includes('musl')) entry.libc = ['musl'];
    else if (os === 'linux' && parts.includes('gnu')) entry.libc = ['glibc'];
    pkgs[`node_modules/${name}`] = entry;
    added += 1;
  }
}

lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} entries`);
