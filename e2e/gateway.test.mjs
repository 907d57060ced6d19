// End-to-end scenarios: the demo SPA (static/) served by the real gateway,
// driven in headless Debian Chromium. Each scenario checks what the user sees
// and what the server stored. Run through e2e/run.sh.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  CHROMIUM_FLAGS,
  chromiumCommandLines,
  config,
  launchBrowser,
  peopleCount,
  personRow,
  sha256Hex,
  sleep,
  holdRowLock,
  startOriginServer,
  upstreamRequests,
  userRow,
} from './support.mjs';

const BASE = config.baseUrl;
const runId = `${Date.now().toString(36)}${process.pid}`;
const USER = { email: `e2e-user-${runId}@example.com`, password: 'user-pass-1234' };
const ADMIN = { email: config.adminEmail, password: config.adminPassword };

let browser; // { context, userDataDir, close }
let page; // the SPA tab
const requests = []; // every request the SPA tab made: { method, path, at }
const pageErrors = [];
const cspConsole = []; // console messages about Content-Security-Policy, across all navigations

// ---------------------------------------------------------------------------
// Helpers (what a person does)
// ---------------------------------------------------------------------------

const byTestId = (id) => page.getByTestId(id);
const statusText = async () => (await byTestId('status').textContent()).trim();

function apiCalls(method, path) {
  return requests.filter((r) => r.method === method && r.path === path);
}

async function waitForView() {
  await page.locator('[data-testid="auth-view"]:visible, [data-testid="app-view"]:visible').first().waitFor();
  // boot() is done once nothing is busy any more.
  await page.locator('main[aria-busy="false"]').waitFor();
}

async function openApp() {
  await page.goto(`${BASE}/`);
  await waitForView();
}

async function expectLoginForm() {
  await byTestId('login-form').waitFor({ state: 'visible' });
  assert.equal(await byTestId('app-view').isVisible(), false, 'the people page must be hidden');
  assert.equal(await byTestId('whoami').isVisible(), false, 'no signed-in user may be shown');
}

/** Waits for the status to match `pattern` (and `kind`, when given): the
 *  page clears it when an action starts, so this is the action's outcome. */
async function expectStatus(pattern, kind) {
  await page.waitForFunction(
    ({ source, flags, kind }) => {
      const status = document.getElementById('status');
      return new RegExp(source, flags).test(status.textContent) && (!kind || status.dataset.kind === kind);
    },
    { source: pattern.source, flags: pattern.flags, kind },
  );
  if (kind) assert.equal(await byTestId('status').getAttribute('data-kind'), kind);
  return statusText();
}

async function login({ email, password }) {
  if (await byTestId('app-view').isVisible()) await logout(); // each scenario starts from its own login
  await expectLoginForm();
  await byTestId('login-email').fill(email);
  await byTestId('login-password').fill(password);
  await byTestId('login-submit').click();
  await byTestId('app-view').waitFor({ state: 'visible' });
  await expectStatus(/^Welcome, /, 'success');
  assert.equal(await byTestId('whoami-email').textContent(), email);
}

async function logout() {
  await byTestId('logout-button').click();
  await expectLoginForm();
  await expectStatus(/logged out/i);
}

/** Adds a person through the form; returns its id (read from the status line). */
async function addPerson(firstName, lastName) {
  await byTestId('person-first').fill(firstName);
  await byTestId('person-last').fill(lastName);
  await byTestId('person-submit').click();
  const text = await expectStatus(new RegExp(`^Added ${firstName} ${lastName} \\(#\\d+\\)`), 'success');
  return Number(/#(\d+)/.exec(text)[1]);
}

const row = (id) => page.locator(`[data-testid="person-row"][data-person-id="${id}"]`);

async function sessionCookies() {
  const cookies = await page.context().cookies(BASE);
  return {
    all: cookies,
    access: cookies.find((c) => c.name === 'accessToken'),
    refresh: (await page.context().cookies(`${BASE}/api/auth/refresh`)).find((c) => c.name === 'refreshToken'),
  };
}

/** Rotates the session from the SPA origin so the access cookie is fresh for the next few seconds. */
async function freshSession() {
  const status = await page.evaluate(async () => {
    const res = await fetch('/api/auth/refresh', { method: 'POST', credentials: 'include' });
    return res.status;
  });
  assert.equal(status, 200, 'refresh from the SPA origin must work');
}

// ---------------------------------------------------------------------------

describe('demo SPA against the real gateway', { timeout: 240_000 }, () => {
  before(async () => {
    mkdirSync(config.artifactsDir, { recursive: true });
    browser = await launchBrowser();
    // Record CSP violations in every page (the SPA has no inline script/style).
    await browser.context.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    page = await browser.context.newPage();
    for (const p of browser.context.pages()) if (p !== page) await p.close();
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.origin === BASE) requests.push({ method: req.method(), path: url.pathname, at: Date.now() });
    });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspConsole.push(msg.text());
    });
  });

  after(async () => {
    if (page && !page.isClosed()) {
      await page.screenshot({ path: join(config.artifactsDir, 'last-state.png'), fullPage: true }).catch(() => {});
    }
    await browser?.close();
  });

  test('Chromium runs with exactly the required flags and a fresh profile', (t) => {
    const [argv, ...others] = chromiumCommandLines(browser.userDataDir);
    assert.ok(argv, 'browser process found in /proc');
    assert.equal(others.length, 0);
    // Debian's /usr/bin/chromium launcher puts its own defaults (/etc/chromium.d) first;
    // what the suite passed is the tail of the command line, and nothing else.
    const ours = [...CHROMIUM_FLAGS, `--user-data-dir=${browser.userDataDir}`, '--remote-debugging-pipe'];
    assert.deepEqual(argv.slice(-ours.length), ours, argv.join(' '));
    assert.ok(!argv.some((a) => a.startsWith('--headless=')), 'plain --headless, no variant');
    assert.ok(!argv.includes('--enable-automation'), 'no Playwright default switches');
    t.diagnostic(`chromium command line: ${argv.join(' ')}`);
  });

  test('1. sign up and log in through the forms; tokens stay out of reach of page scripts', async () => {
    await openApp();
    await expectLoginForm();
    assert.equal(await statusText(), 'Please log in or sign up.');

    // A too-short password: the server's field error is shown, nothing is stored.
    await byTestId('signup-email').fill(USER.email);
    await byTestId('signup-password').fill('short');
    await byTestId('signup-submit').click();
    await expectStatus(/./, 'error');
    assert.match(await byTestId('status-errors').textContent(), /password/i);
    assert.equal(userRow(USER.email), null, 'rejected sign-up must not create a user');

    await byTestId('signup-password').fill(USER.password);
    await byTestId('signup-submit').click();
    await expectStatus(new RegExp(`Account created for ${USER.email.replace(/[.+]/g, '\\$&')}`), 'success');
    const stored = userRow(USER.email);
    assert.ok(stored, 'user row exists');
    assert.equal(stored.role, 'user');
    assert.notEqual(stored.passwordHash, USER.password);
    assert.match(stored.passwordHash, /^\$2[aby]\$/, 'bcrypt hash stored');
    assert.equal(stored.refreshTokenHash, null, 'no session before login');
    assert.equal(await byTestId('login-email').inputValue(), USER.email, 'login email prefilled');

    // A wrong password: the server's message, still the login form, no session stored.
    await byTestId('login-password').fill('wrong-password');
    await byTestId('login-submit').click();
    await expectStatus(/./, 'error');
    await expectLoginForm();
    assert.equal(userRow(USER.email).refreshTokenHash, null, 'failed login stores no session');

    await login(USER);
    assert.equal(await byTestId('whoami-role').textContent(), 'user');

    // Cookies: httpOnly, Secure (accepted on http://127.0.0.1), SameSite=Strict, and invisible to JS.
    const { access, refresh } = await sessionCookies();
    assert.ok(access && refresh, 'both session cookies set');
    for (const c of [access, refresh]) {
      assert.equal(c.httpOnly, true, `${c.name} httpOnly`);
      assert.equal(c.secure, true, `${c.name} Secure`);
      assert.equal(c.sameSite, 'Strict', `${c.name} SameSite`);
    }
    assert.equal(access.path, '/');
    assert.equal(refresh.path, '/api/auth/refresh');
    const documentCookie = await page.evaluate(() => document.cookie);
    assert.ok(!documentCookie.includes(access.value), 'access token not readable by scripts');
    assert.ok(!documentCookie.includes(refresh.value), 'refresh token not readable by scripts');
    assert.ok(!/accessToken|refreshToken/.test(documentCookie));
    const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.ok(!storage.includes(access.value) && !storage.includes(refresh.value), 'no token in web storage');

    const afterLogin = userRow(USER.email);
    assert.equal(afterLogin.refreshTokenHash, sha256Hex(refresh.value), 'DB keeps only the SHA-256 of the refresh cookie');

    // The people list loads and matches the table.
    await byTestId('people-table').waitFor();
    assert.equal(await page.locator('[data-testid="person-row"]').count(), Math.min(peopleCount(), 50));

    // Create and edit through the form.
    const id = await addPerson('Ada', 'Lovelace');
    await row(id).waitFor();
    assert.deepEqual(personRow(id), { firstName: 'Ada', lastName: 'Lovelace' });
    await row(id).getByTestId('person-edit').click();
    assert.equal(await byTestId('person-first').inputValue(), 'Ada');
    await byTestId('person-last').fill('King');
    await byTestId('person-submit').click();
    await expectStatus(new RegExp(`^Updated Ada King \\(#${id}\\)`), 'success');
    assert.equal(await row(id).getByTestId('person-row-last').textContent(), 'King');
    assert.deepEqual(personRow(id), { firstName: 'Ada', lastName: 'King' });

    // Invalid name: whitespace only passes `required`, is empty once trimmed;
    // server validation message, DB untouched.
    const before = peopleCount();
    await byTestId('person-first').fill('   ');
    await byTestId('person-last').fill('Droid');
    await byTestId('person-submit').click();
    await expectStatus(/./, 'error');
    assert.match(await byTestId('status-errors').textContent(), /firstName/);
    assert.equal(peopleCount(), before);
    await byTestId('person-first').fill('');
    await byTestId('person-last').fill('');
  });

  test('2. after the access TTL, concurrent requests share ONE refresh and the page keeps working', async () => {
    const before = userRow(USER.email);
    await sleep(config.accessTtlMs + 1000);
    const mark = requests.length;
    await byTestId('reload-button').click();
    await expectStatus(/^Loaded \d+ (person|people) for /, 'success');
    const made = requests.slice(mark);
    const count = (m, p) => made.filter((r) => r.method === m && r.path === p).length;

    assert.equal(count('POST', '/api/auth/refresh'), 1, `exactly one refresh: ${JSON.stringify(made)}`);
    assert.equal(count('GET', '/api/auth/me'), 2, 'me: original + one retry');
    assert.equal(count('GET', '/api/people'), 2, 'people: original + one retry');
    // Both originals were in flight before the refresh went out.
    const refreshAt = made.findIndex((r) => r.path === '/api/auth/refresh');
    assert.ok(made.slice(0, refreshAt).filter((r) => r.method === 'GET').length === 2, 'two requests fired at once');

    assert.equal(await byTestId('login-form').isVisible(), false, 'no login prompt');
    assert.equal(await byTestId('whoami-email').textContent(), USER.email);
    assert.ok((await page.locator('[data-testid="person-row"]').count()) >= 1);

    // Server side: the refresh token was rotated; the new cookie's hash is stored.
    const afterRefresh = userRow(USER.email);
    assert.ok(afterRefresh.refreshTokenHash, 'still has a session');
    assert.notEqual(afterRefresh.refreshTokenHash, before.refreshTokenHash, 'refresh token rotated');
    const { refresh } = await sessionCookies();
    assert.equal(afterRefresh.refreshTokenHash, sha256Hex(refresh.value));
  });

  test('3. a user’s delete is refused with the 403 message; the admin’s delete removes the row', async () => {
    const id = await addPerson('Delete', 'Me');
    const deletes = () => apiCalls('DELETE', `/api/people/${id}`).length;

    await row(id).getByTestId('person-delete').click();
    const message = await expectStatus(/Insufficient permissions/, 'error');
    assert.equal(message, 'Insufficient permissions');
    assert.equal(await row(id).isVisible(), true, 'row stays in the list');
    assert.deepEqual(personRow(id), { firstName: 'Delete', lastName: 'Me' }, 'row stays in the DB');
    assert.equal(deletes(), 1, 'a 403 is not retried (no refresh on role refusal)');
    assert.equal(await byTestId('login-form').isVisible(), false, '403 does not log the user out');

    await logout();
    await login(ADMIN);
    assert.equal(await byTestId('whoami-role').textContent(), 'admin');
    assert.equal(userRow(ADMIN.email).role, 'admin');
    await row(id).getByTestId('person-delete').click();
    await expectStatus(new RegExp(`^Deleted Delete Me \\(#${id}\\)`), 'success');
    await row(id).waitFor({ state: 'detached' });
    assert.equal(personRow(id), null, 'row deleted in the DB');

    // A tidy page for the screenshot.
    await addPerson('Grace', 'Hopper');
    await addPerson('Alan', 'Turing');
    await addPerson("Miles", "O'Brien");
    await byTestId('reload-button').click();
    await expectStatus(/^Loaded \d+ people for /, 'success');
    const shot = join(config.artifactsDir, 'people.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
  });

  test('4. log out revokes the session: login form, reload does not restore it, DB hash cleared', async () => {
    await logout(); // the admin
    assert.equal(userRow(ADMIN.email).refreshTokenHash, null, 'admin session revoked');

    await login(USER);
    assert.ok(userRow(USER.email).refreshTokenHash, 'session stored after login');
    const { refresh: oldRefresh } = await sessionCookies();

    await logout();
    const stored = userRow(USER.email);
    assert.equal(stored.refreshTokenHash, null, 'refresh_token_hash IS NULL after logout');
    assert.equal(stored.refreshExpiresAt, null);
    const { access, refresh } = await sessionCookies();
    assert.equal(access, undefined, 'access cookie cleared');
    assert.equal(refresh, undefined, 'refresh cookie cleared');

    const mark = requests.length;
    await page.reload();
    await waitForView();
    await expectLoginForm();
    const made = requests.slice(mark);
    assert.ok(made.some((r) => r.path === '/api/auth/me'), 'page asked who is signed in');

    // Even the old refresh token, replayed, no longer works: it was revoked server-side.
    await page.context().addCookies([{ ...oldRefresh }]);
    await page.reload();
    await waitForView();
    await expectLoginForm();
    assert.equal(userRow(USER.email).refreshTokenHash, null, 'replayed token did not revive the session');
    await page.context().clearCookies();
  });

  test('4b. a logout the gateway cannot store says so, keeps the session, and a retry logs out', async () => {
    await openApp();
    await login(USER);
    // A real fault, without breaking the shared server: another session holds
    // the user's row locked, so the revocation's UPDATE waits until the
    // gateway's statement timeout (DATABASE_STATEMENT_TIMEOUT=1s in run.sh)
    // cancels it and the gateway answers 503.
    const locker = holdRowLock(USER.email, 5);
    try {
      await locker.locked;
      await byTestId('logout-button').click();
      await expectStatus(/^Logout failed, you are still signed in: /, 'error');
      assert.equal(await byTestId('app-view').isVisible(), true, 'still on the people page');
      assert.equal(await byTestId('logout-retry').isVisible(), true, 'a retry is offered');
      const { access, refresh } = await sessionCookies();
      assert.ok(access && refresh, 'the gateway kept both cookies');
    } finally {
      await locker.done;
    }
    assert.ok(userRow(USER.email).refreshTokenHash, 'the session is still stored');

    await byTestId('logout-retry').click();
    await expectLoginForm();
    await expectStatus(/logged out/i);
    assert.equal(await byTestId('logout-retry').isVisible(), false);
    assert.equal(userRow(USER.email).refreshTokenHash, null, 'revoked on the retry');
  });

  test('5. at the refresh session’s absolute expiry the page returns to login by itself', async () => {
    await openApp();
    await login(USER);
    const loggedInAt = Date.now();
    const { refreshExpiresAt } = userRow(USER.email);
    assert.ok(refreshExpiresAt);

    // Keep using the app: each reload after the access TTL rotates the session...
    const step = config.accessTtlMs + 700;
    let refreshes = 0;
    while (Date.now() + step < loggedInAt + config.refreshTtlMs - 2500) {
      await sleep(step);
      const mark = requests.length;
      await byTestId('reload-button').click();
      await expectStatus(/^Loaded /, 'success');
      refreshes += requests.slice(mark).filter((r) => r.path === '/api/auth/refresh').length;
      // ...but the expiry stays absolute: rotation never extends it.
      assert.equal(userRow(USER.email).refreshExpiresAt, refreshExpiresAt, 'absolute expiry unchanged by rotation');
    }
    assert.ok(refreshes >= 1, 'the session was refreshed at least once meanwhile');

    await sleep(Math.max(0, loggedInAt + config.refreshTtlMs + 1000 - Date.now()));
    assert.equal(userRow(USER.email).refreshExpired, true, 'DB says the refresh session has expired');
    const mark = requests.length;
    await byTestId('reload-button').click();
    await expectLoginForm();
    await expectStatus(/session has ended/i, 'error');
    assert.equal(requests.slice(mark).filter((r) => r.path === '/api/auth/refresh').length, 1, 'one failed refresh');
  });

  test('6. another origin cannot read the API with the user’s cookies, nor write through a cross-site form', async (t) => {
    await openApp();
    await login(USER);
    const other = await startOriginServer();
    t.after(() => other.close());
    const attacker = await browser.context.newPage();
    t.after(() => attacker.close());
    const attackerRequests = [];
    attacker.on('request', (req) => {
      if (req.url().startsWith(BASE)) attackerRequests.push(req);
    });

    const peopleBefore = peopleCount();
    const evil = () => peopleCount(`first_name = 'Evil'`);

    // 127.0.0.1:<other> is cross-origin but SAME-site: the SameSite=Strict cookies are sent,
    // so CORS and the JSON-only API are what must stop it. localhost:<other> is cross-site.
    for (const [origin, sameSite] of [
      [`http://127.0.0.1:${other.port}`, true],
      [`http://localhost:${other.port}`, false],
    ]) {
      await t.test(`from ${origin} (${sameSite ? 'same-site' : 'cross-site'})`, async (st) => {
        attackerRequests.length = 0;
        // (a) credentialed fetch of /api/auth/me is blocked by CORS.
        await attacker.goto(`${origin}/`);
        await freshSession();
        const read = await attacker.evaluate(async (url) => {
          try {
            const res = await fetch(url, { credentials: 'include' });
            return { ok: true, status: res.status, body: await res.text() };
          } catch (err) {
            return { ok: false, error: String(err) };
          }
        }, `${BASE}/api/auth/me`);
        assert.equal(read.ok, false, `cross-origin read must fail, got ${JSON.stringify(read)}`);
        assert.match(read.error, /TypeError|Failed to fetch/);

        // (b) JSON write via fetch: preflight is refused.
        await freshSession();
        const write = await attacker.evaluate(async (url) => {
          try {
            const res = await fetch(url, {
              method: 'POST',
              credentials: 'include',
              headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify({ firstName: 'Evil', lastName: 'Fetch' }),
            });
            return { ok: true, status: res.status };
          } catch (err) {
            return { ok: false, error: String(err) };
          }
        }, `${BASE}/api/people`);
        assert.equal(write.ok, false, `cross-origin JSON POST must fail, got ${JSON.stringify(write)}`);

        // (c) "simple" no-cors POST with a JSON body sent as text/plain.
        await freshSession();
        await attacker.evaluate(async (url) => {
          await fetch(url, {
            method: 'POST',
            mode: 'no-cors',
            credentials: 'include',
            headers: { 'Content-Type': 'text/plain' },
            body: JSON.stringify({ firstName: 'Evil', lastName: 'Simple' }),
          }).catch(() => {});
        }, `${BASE}/api/people`);

        // (d) classic cross-site form POSTs: urlencoded, and text/plain crafted to look like JSON.
        for (const form of [
          { enctype: 'application/x-www-form-urlencoded', fields: { firstName: 'Evil', lastName: 'Form' } },
          { enctype: 'text/plain', fields: { '{"firstName":"Evil","lastName":"Plain","x":"': '"}' } },
        ]) {
          await attacker.goto(`${origin}/`);
          await freshSession();
          const response = attacker.waitForResponse((r) => r.url() === `${BASE}/api/people` && r.request().method() === 'POST');
          const navigated = attacker.waitForURL(`${BASE}/api/people`);
          await attacker.evaluate(
            ({ action, enctype, fields }) => {
              const f = document.createElement('form');
              f.method = 'POST';
              f.action = action;
              f.enctype = enctype;
              for (const [name, value] of Object.entries(fields)) {
                const input = document.createElement('input');
                input.type = 'hidden';
                input.name = name;
                input.value = value;
                f.append(input);
              }
              document.body.append(f);
              f.submit();
            },
            { action: `${BASE}/api/people`, ...form },
          );
          const res = await response;
          await navigated;
          const body = await res.json().catch(() => ({}));
          st.diagnostic(`${form.enctype} form POST: HTTP ${res.status()} ${body.code ?? ''}`);
          assert.ok(res.status() >= 400, `${form.enctype} form POST refused (HTTP ${res.status()})`);
        }

        // Did the cross-origin requests carry the session cookie? Same-site (127.0.0.1) yes, so the
        // checks above are not vacuous: CORS and the JSON-only API stop them. Cross-site: no.
        const carried = [];
        for (const req of attackerRequests.splice(0)) {
          const headers = await req.allHeaders().catch(() => ({}));
          if (/accessToken=/.test(headers.cookie || '')) carried.push(`${req.method()} ${new URL(req.url()).pathname}`);
        }
        st.diagnostic(`requests that carried the access cookie: ${carried.join(', ') || 'none'}`);
        if (sameSite) assert.ok(carried.includes('POST /api/people'), 'same-site form POST carries the cookie');
        else assert.deepEqual(carried, [], 'cross-site requests carry no SameSite=Strict cookie');

        assert.equal(evil(), 0, 'no person was created by the other origin');
        assert.equal(peopleCount(), peopleBefore, 'people table unchanged');
      });
    }

    if (config.allowedOriginPort) {
      await t.test(`control: the allowlisted origin http://127.0.0.1:${config.allowedOriginPort} can read it`, async () => {
        const friendly = await startOriginServer(config.allowedOriginPort);
        try {
          await attacker.goto(`http://127.0.0.1:${friendly.port}/`);
          await freshSession();
          const read = await attacker.evaluate(async (url) => {
            const res = await fetch(url, { credentials: 'include' });
            return { status: res.status, body: await res.json() };
          }, `${BASE}/api/auth/me`);
          assert.equal(read.status, 200);
          assert.equal(read.body.email, USER.email);
        } finally {
          await friendly.close();
        }
      });
    }
  });

  test('7. Secure cookies also work when the SPA is opened on http://localhost', async () => {
    const localBase = BASE.replace('//127.0.0.1:', '//localhost:');
    const local = await browser.context.newPage();
    try {
      await local.goto(`${localBase}/`);
      await local.getByTestId('login-form').waitFor();
      await local.getByTestId('login-email').fill(USER.email);
      await local.getByTestId('login-password').fill(USER.password);
      await local.getByTestId('login-submit').click();
      await local.getByTestId('app-view').waitFor();
      assert.equal(await local.getByTestId('whoami-email').textContent(), USER.email);
      const cookies = await browser.context.cookies(`${localBase}/`);
      const access = cookies.find((c) => c.name === 'accessToken');
      assert.ok(access, 'access cookie stored for localhost');
      assert.equal(access.secure, true);
      assert.equal(access.domain, 'localhost');
      await local.reload();
      await local.getByTestId('app-view').waitFor(); // the session survives a reload
      await local.getByTestId('logout-button').click();
      await local.getByTestId('login-form').waitFor();
      assert.equal(userRow(USER.email).refreshTokenHash, null);
    } finally {
      await local.close();
    }
  });

  test('8. the relay panel calls the team’s APIs with the session: refresh on 401, admins-only upstream refused', async () => {
    await openApp();
    await login(USER);
    const relayCalls = (name) => requests.filter((r) => r.path === `/api/upstream/${name}/whoami`).length;
    const result = () => byTestId('relay-result').textContent();

    const ordersBefore = upstreamRequests('orders').length;
    await byTestId('relay-orders').click();
    await expectStatus(/^orders answered\.$/, 'success');
    assert.equal(await result(), `orders answered GET /whoami for ${USER.email} (user).`);
    const seen = upstreamRequests('orders').slice(ordersBefore);
    assert.equal(seen.length, 1, `the upstream answered once: ${seen}`);
    assert.match(seen[0], /^request: GET \/whoami .*role=user/);
    assert.doesNotMatch(seen.join('\n'), /eyJ/, 'the upstream log holds no token');

    // The access cookie runs out: the relayed call gets 401 from the gateway,
    // the page refreshes once and retries, and the user notices nothing.
    await sleep(config.accessTtlMs + 1000);
    const mark = requests.length;
    const relayedBefore = relayCalls('orders');
    await byTestId('relay-orders').click();
    await expectStatus(/^orders answered\.$/, 'success');
    const made = requests.slice(mark);
    assert.equal(made.filter((r) => r.path === '/api/auth/refresh').length, 1, JSON.stringify(made));
    assert.equal(relayCalls('orders') - relayedBefore, 2, 'original + one retry');
    assert.equal(upstreamRequests('orders').length - ordersBefore, 2, 'the expired call never reached the upstream');

    // reports is for admins: refused by the gateway, never reaching the upstream.
    const reportsBefore = upstreamRequests('reports').length;
    await byTestId('relay-reports').click();
    await expectStatus(/^You may not call reports: it is for admins only\.$/, 'error');
    assert.equal(await byTestId('relay-result').isVisible(), false);
    assert.equal(upstreamRequests('reports').length, reportsBefore, 'the upstream saw nothing');
    assert.equal(await byTestId('login-form').isVisible(), false, '403 does not log the user out');

    await logout();
    await login(ADMIN);
    await byTestId('relay-reports').click();
    await expectStatus(/^reports answered\.$/, 'success');
    assert.equal(await result(), `reports answered GET /whoami for ${ADMIN.email} (admin).`);
    assert.match(upstreamRequests('reports').slice(reportsBefore).join('\n'), /role=admin/);
    await logout();
  });

  test('9. the page runs under the gateway’s strict CSP: no violations, no uncaught errors', async () => {
    await openApp();
    const violations = await page.evaluate(() => window.__cspViolations);
    assert.deepEqual(violations, []);
    assert.deepEqual(cspConsole, [], 'no CSP violation reported during the whole run');
    assert.deepEqual(pageErrors, []);
    const csp = (await page.request.get(`${BASE}/`)).headers()['content-security-policy'];
    assert.ok(csp, 'the gateway serves the page with a Content-Security-Policy header');
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(
      await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content'),
      /script-src 'self'/,
    );
  });
});
