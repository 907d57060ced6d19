// Shared plumbing for the end-to-end tests: configuration from the
// environment (set by run.sh), the browser launch, database queries through
// psql, and tiny "other origin" web servers.

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through e2e/run.sh (see e2e/README.md)`);
  return value;
}

function seconds(name, fallback) {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of seconds`);
  return value;
}

export const config = {
  baseUrl: required('E2E_BASE_URL').replace(/\/$/, ''),
  databaseUrl: required('E2E_DATABASE_URL'),
  adminEmail: process.env.E2E_ADMIN_EMAIL || 'admin@example.com',
  adminPassword: required('E2E_ADMIN_PASSWORD'),
  accessTtlMs: seconds('E2E_ACCESS_TTL_SECONDS', 3) * 1000,
  refreshTtlMs: seconds('E2E_REFRESH_TTL_SECONDS', 15) * 1000,
  // Port whose 127.0.0.1 origin the gateway allowlists (positive CORS control); optional.
  allowedOriginPort: process.env.E2E_ALLOWED_ORIGIN_PORT ? Number(process.env.E2E_ALLOWED_ORIGIN_PORT) : null,
  artifactsDir: resolve(process.env.E2E_ARTIFACTS_DIR || join(here, '..', 'artifacts', 'e2e')),
  chromiumPath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  // What each example upstream (examples/upstream.rs) printed: one line per request it answered.
  upstreamLogs: {
    orders: required('E2E_UPSTREAM_LOG_ORDERS'),
    reports: required('E2E_UPSTREAM_LOG_REPORTS'),
  },
};

/** The requests an example upstream has logged so far (`request: METHOD PATH ...` lines). */
export function upstreamRequests(name) {
  return readFileSync(config.upstreamLogs[name], 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('request: '));
}

/** Exactly the flags the suite promises to launch Chromium with. */
export const CHROMIUM_FLAGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
]);

/**
 * Launches /usr/bin/chromium with CHROMIUM_FLAGS and a fresh --user-data-dir.
 * Playwright's own default switches are switched off (ignoreDefaultArgs), so
 * the command line is ours plus the pipe Playwright talks over.
 */
export async function launchBrowser() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'bff-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: config.chromiumPath,
    ignoreDefaultArgs: true,
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${userDataDir}`, '--remote-debugging-pipe'],
    timeout: 60_000,
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    userDataDir,
    async close() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Command lines (argv arrays) of the Chromium browser processes using this profile. */
export function chromiumCommandLines(userDataDir) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let argv;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    const isBrowser = !argv.some((a) => a.startsWith('--type='));
    if (isBrowser && argv.includes(`--user-data-dir=${userDataDir}`)) found.push(argv);
  }
  return found;
}

// ---------------------------------------------------------------------------
// Database (psql, so the suite needs no database driver)
// ---------------------------------------------------------------------------

export function lit(value) {
  return `'${String(value).replaceAll("'", "''")}'`;
}

/** Runs one SQL statement; returns the unaligned, tuples-only output. */
export function sql(query) {
  return execFileSync('psql', [config.databaseUrl, '-At', '-X', '-v', 'ON_ERROR_STOP=1', '-c', query], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** Locks `email`'s user row from another session for `seconds`. `locked`
 *  resolves once the lock is held, `done` when it is released. */
export function holdRowLock(email, seconds) {
  const child = spawn(
    'psql',
    [
      config.databaseUrl,
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `BEGIN; SELECT 1 FROM users WHERE email = ${lit(email)} FOR UPDATE; ` +
        `SELECT pg_sleep(${Number(seconds)}); COMMIT;`,
    ],
    { stdio: 'ignore' },
  );
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`row lock psql exited ${code}`))));
  });
  const locked = (async () => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const waiting = sql(
        `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(${Number(seconds)})%' ` +
          'AND pid <> pg_backend_pid()',
      );
      if (waiting === '1') return;
      await sleep(50);
    }
    throw new Error('the row lock was not taken within 5 s');
  })();
  return { locked, done };
}

export function userRow(email) {
  const line = sql(
    `SELECT id, role, password_hash, coalesce(refresh_token_hash, ''), ` +
      `coalesce(to_char(refresh_token_expires_at, 'YYYY-MM-DD"T"HH24:MI:SS.US'), ''), ` +
      `(refresh_token_expires_at < (now() AT TIME ZONE 'utc'))::text ` +
      `FROM users WHERE email = ${lit(email)}`,
  );
  if (!line) return null;
  const [id, role, passwordHash, refreshTokenHash, refreshExpiresAt, refreshExpired] = line.split('|');
  return {
    id: Number(id),
    role,
    passwordHash,
    refreshTokenHash: refreshTokenHash || null,
    refreshExpiresAt: refreshExpiresAt || null,
    refreshExpired: refreshExpired === 'true',
  };
}

export function peopleCount(where = 'TRUE') {
  return Number(sql(`SELECT count(*) FROM people WHERE ${where}`));
}

export function personRow(id) {
  const line = sql(`SELECT first_name, last_name FROM people WHERE id = ${Number(id)}`);
  if (!line) return null;
  const [firstName, lastName] = line.split('|');
  return { firstName, lastName };
}

export function sha256Hex(value) {
  return createHash('sha256').update(value).digest('hex');
}

// ---------------------------------------------------------------------------
// Other origins
// ---------------------------------------------------------------------------

/**
 * A tiny web server for pages of another origin. `port` 0 picks a free one.
 * Serves an empty HTML page for every path; the tests drive it via evaluate().
 */
export async function startOriginServer(port = 0) {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('<!doctype html><html><head><title>other origin</title></head><body><h1>other origin</h1></body></html>');
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  return {
    port: server.address().port,
    close: () =>
      new Promise((ok) => {
        server.close(() => ok());
        server.closeAllConnections(); // browsers keep connections alive
      }),
  };
}

export { sleep };
