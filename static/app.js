// Demo SPA for the bff-gateway. Dependency-free ES module.
//
// Security model: the gateway keeps the session in httpOnly cookies. This page
// never sees, reads or stores a token; every call is a same-origin fetch with
// `credentials: 'include'`. When the access cookie has expired (401 with code
// `token_expired` / `token_missing`) the page makes ONE refresh call, shared by
// all requests that failed at the same time (single-flight), and retries each
// original request once. If the refresh fails, the login form comes back.

const PAGE_SIZE = 50;
const REFRESHABLE_CODES = new Set(['token_expired', 'token_missing']);

// ---------------------------------------------------------------------------
// HTTP layer
// ---------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    const payload = body && typeof body === 'object' ? body : {};
    super(payload.message || `Request failed (HTTP ${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = payload.code || null;
    this.errors = Array.isArray(payload.errors) ? payload.errors : [];
  }
}

function rawFetch(path, { method = 'GET', body } = {}) {
  return fetch(path, {
    method,
    credentials: 'include',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function readJson(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

// Single-flight refresh state.
let refreshInFlight = null; // Promise<boolean> while a refresh is running
let refreshEpoch = 0; // bumped whenever the session changes (refresh done, login, logout)
let lastRefreshOk = false; // outcome of the most recent refresh

function refreshSession() {
  if (!refreshInFlight) {
    refreshInFlight = rawFetch('/api/auth/refresh', { method: 'POST' })
      .then((res) => res.ok)
      .catch(() => false)
      .then((ok) => {
        lastRefreshOk = ok;
        refreshEpoch += 1;
        refreshInFlight = null;
        return ok;
      });
  }
  return refreshInFlight;
}

function markSession(active) {
  refreshEpoch += 1;
  lastRefreshOk = active;
}

let onSessionLost = () => {};

/**
 * Calls the JSON API. Protected calls (default) transparently refresh once on
 * an expired/missing access cookie and retry; public calls (login, signup)
 * pass `auth: false`.
 */
async function api(path, { method = 'GET', body, auth = true } = {}) {
  const epochAtSend = refreshEpoch;
  let res = await rawFetch(path, { method, body });
  let payload = await readJson(res);

  if (auth && res.status === 401) {
    if (REFRESHABLE_CODES.has(payload && payload.code)) {
      // If a refresh already finished after this request was sent, its
      // outcome applies to us as well: do not start another one.
      const refreshed = refreshEpoch !== epochAtSend ? lastRefreshOk : await refreshSession();
      if (refreshed) {
        res = await rawFetch(path, { method, body });
        payload = await readJson(res);
      }
    }
    if (res.status === 401) {
      onSessionLost();
      throw new ApiError(401, {
        code: 'session_expired',
        message: 'Your session has ended. Please log in again.',
      });
    }
  }

  if (!res.ok) throw new ApiError(res.status, payload);
  return payload;
}

// ---------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

const els = {
  status: $('status'),
  statusErrors: $('status-errors'),
  main: $('main'),
  loading: $('loading'),
  authView: $('auth-view'),
  appView: $('app-view'),
  whoami: $('whoami'),
  whoamiEmail: $('whoami-email'),
  whoamiRole: $('whoami-role'),
  logout: $('logout-button'),
  logoutRetry: $('logout-retry'),
  loginForm: $('login-form'),
  loginEmail: $('login-email'),
  loginPassword: $('login-password'),
  signupForm: $('signup-form'),
  signupEmail: $('signup-email'),
  signupPassword: $('signup-password'),
  reload: $('reload-button'),
  prev: $('people-prev'),
  next: $('people-next'),
  pageLabel: $('people-page'),
  peopleBody: $('people-body'),
  peopleEmpty: $('people-empty'),
  personForm: $('person-form'),
  personFormTitle: $('person-form-title'),
  personId: $('person-id'),
  personFirst: $('person-first'),
  personLast: $('person-last'),
  personSubmit: $('person-submit'),
  personCancel: $('person-cancel'),
  rowTemplate: $('person-row-template'),
  relayButtons: document.querySelectorAll('[data-upstream]'),
  relayResult: $('relay-result'),
};

const state = {
  user: null,
  page: 1,
  lastPageSize: 0,
  busy: 0,
};

function setStatus(message, kind = 'info', errors = []) {
  els.status.textContent = message;
  els.status.dataset.kind = kind;
  els.statusErrors.replaceChildren(
    ...errors.map((e) => {
      const li = document.createElement('li');
      li.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
      return li;
    }),
  );
  els.statusErrors.hidden = errors.length === 0;
}

function showError(err) {
  if (err instanceof ApiError) {
    setStatus(err.message, 'error', err.errors);
  } else {
    setStatus('Network error: the gateway could not be reached.', 'error');
  }
}

function updatePager() {
  els.pageLabel.textContent = `Page ${state.page}`;
  els.prev.disabled = state.busy > 0 || state.page <= 1;
  els.next.disabled = state.busy > 0 || state.lastPageSize < PAGE_SIZE;
}

function setBusy(delta) {
  state.busy += delta;
  const busy = state.busy > 0;
  els.main.setAttribute('aria-busy', String(busy));
  document.body.classList.toggle('is-busy', busy);
  for (const button of document.querySelectorAll('button')) button.disabled = busy;
  if (!busy) updatePager();
}

/** Runs an async UI action with every button disabled; reports errors. */
/** Runs a user action. The previous message goes first, so whatever the
 *  status shows afterwards is this action's outcome. */
async function withBusy(action) {
  setStatus('');
  els.logoutRetry.hidden = true;
  setBusy(1);
  try {
    return await action();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    setBusy(-1);
  }
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

function showAuthView() {
  state.user = null;
  els.logoutRetry.hidden = true;
  els.loading.hidden = true;
  els.appView.hidden = true;
  els.whoami.hidden = true;
  els.authView.hidden = false;
  els.peopleBody.replaceChildren();
  els.relayResult.hidden = true;
  resetPersonForm();
}

function showAppView(user) {
  state.user = user;
  els.loading.hidden = true;
  els.authView.hidden = true;
  els.appView.hidden = false;
  els.whoami.hidden = false;
  els.whoamiEmail.textContent = user.email;
  els.whoamiRole.textContent = user.role;
  els.whoamiRole.dataset.role = user.role;
}

onSessionLost = () => {
  markSession(false);
  showAuthView();
};

function renderPeople(people) {
  state.lastPageSize = people.length;
  const rows = people.map((p) => {
    const row = els.rowTemplate.content.firstElementChild.cloneNode(true);
    row.dataset.personId = String(p.id);
    row.querySelector('.pid').textContent = String(p.id);
    row.querySelector('.first').textContent = p.firstName;
    row.querySelector('.last').textContent = p.lastName;
    row.querySelector('[data-action="edit"]').addEventListener('click', () => startEdit(p));
    row.querySelector('[data-action="delete"]').addEventListener('click', () => deletePerson(p));
    for (const button of row.querySelectorAll('button')) button.disabled = state.busy > 0;
    return row;
  });
  els.peopleBody.replaceChildren(...rows);
  els.peopleEmpty.hidden = people.length > 0 || state.page > 1;
  updatePager();
}

function resetPersonForm() {
  els.personForm.reset();
  els.personId.value = '';
  els.personFormTitle.textContent = 'Add a person';
  els.personSubmit.textContent = 'Add';
  els.personCancel.hidden = true;
}

function startEdit(person) {
  els.personId.value = String(person.id);
  els.personFirst.value = person.firstName;
  els.personLast.value = person.lastName;
  els.personFormTitle.textContent = `Edit person #${person.id}`;
  els.personSubmit.textContent = 'Save';
  els.personCancel.hidden = false;
  els.personFirst.focus();
}

// ---------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------

async function loadMe() {
  const me = await api('/api/auth/me');
  showAppView(me);
  return me;
}

async function loadPeople() {
  const people = await api(`/api/people?page=${state.page}&limit=${PAGE_SIZE}`);
  renderPeople(people);
  return people;
}

/** Profile and people list in parallel: exercises the single-flight refresh. */
async function reloadAll() {
  const [me, people] = await Promise.all([loadMe(), loadPeople()]);
  setStatus(`Loaded ${people.length} ${people.length === 1 ? 'person' : 'people'} for ${me.email}.`, 'success');
}

async function login(event) {
  event.preventDefault();
  await withBusy(async () => {
    const email = els.loginEmail.value.trim();
    const user = await api('/api/auth/login', {
      method: 'POST',
      body: { username: email, password: els.loginPassword.value },
      auth: false,
    });
    markSession(true);
    els.loginForm.reset();
    state.page = 1;
    showAppView(user);
    await loadPeople();
    setStatus(`Welcome, ${user.email}.`, 'success');
  });
}

async function signup(event) {
  event.preventDefault();
  await withBusy(async () => {
    const email = els.signupEmail.value.trim();
    const res = await api('/api/auth/signup', {
      method: 'POST',
      body: { email, password: els.signupPassword.value },
      auth: false,
    });
    els.signupForm.reset();
    els.loginEmail.value = (res && res.user && res.user.email) || email;
    setStatus(`Account created for ${els.loginEmail.value}. You can log in now.`, 'success');
    els.loginPassword.focus();
  });
}

async function logout() {
  await withBusy(async () => {
    // The refresh cookie is enough to revoke the session even when the access
    // cookie is already gone; both calls are idempotent. Either one ends the
    // session. If neither could (the gateway answers 503 and keeps the
    // cookies when it cannot store the revocation), the user is still signed
    // in and is told so, with a retry.
    let ended = false;
    let failure = 'the gateway could not be reached';
    for (const path of ['/api/auth/refresh/revoke', '/api/auth/logout']) {
      try {
        const res = await rawFetch(path, { method: 'POST' });
        if (res.ok) ended = true;
        else failure = new ApiError(res.status, await readJson(res)).message;
      } catch {
        /* network error: the failure text above */
      }
    }
    if (!ended) {
      els.logoutRetry.hidden = false;
      setStatus(`Logout failed, you are still signed in: ${failure}`, 'error');
      return;
    }
    markSession(false);
    showAuthView();
    setStatus('You have been logged out.', 'info');
  });
}

async function savePerson(event) {
  event.preventDefault();
  await withBusy(async () => {
    const id = els.personId.value;
    const body = { firstName: els.personFirst.value.trim(), lastName: els.personLast.value.trim() };
    const saved = id
      ? await api(`/api/people/${encodeURIComponent(id)}`, { method: 'PUT', body })
      : await api('/api/people', { method: 'POST', body });
    resetPersonForm();
    await loadPeople();
    setStatus(`${id ? 'Updated' : 'Added'} ${saved.firstName} ${saved.lastName} (#${saved.id}).`, 'success');
  });
}

async function deletePerson(person) {
  await withBusy(async () => {
    await api(`/api/people/${encodeURIComponent(person.id)}`, { method: 'DELETE' });
    if (els.personId.value === String(person.id)) resetPersonForm();
    await loadPeople();
    setStatus(`Deleted ${person.firstName} ${person.lastName} (#${person.id}).`, 'success');
  });
}

/** Calls one of the team's APIs through the gateway's relay
 *  (`/api/upstream/{name}/…`): the same cookies, the same silent refresh. */
async function callUpstream(name) {
  await withBusy(async () => {
    els.relayResult.hidden = true;
    let answer;
    try {
      answer = await api(`/api/upstream/${encodeURIComponent(name)}/whoami`);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'insufficient_role') {
        throw new ApiError(403, { code: err.code, message: `You may not call ${name}: it is for admins only.` });
      }
      throw err;
    }
    const caller = (answer && answer.caller) || {};
    els.relayResult.textContent = `${answer.upstream} answered ${answer.method} ${answer.path} for ${caller.email} (${caller.role}).`;
    els.relayResult.dataset.upstream = name;
    els.relayResult.hidden = false;
    setStatus(`${name} answered.`, 'success');
  });
}

async function changePage(delta) {
  await withBusy(async () => {
    state.page = Math.max(1, state.page + delta);
    await loadPeople();
  });
}

async function boot() {
  setBusy(1);
  try {
    await loadMe();
    await loadPeople();
    setStatus('');
  } catch (err) {
    showAuthView();
    if (err instanceof ApiError && err.status === 401) setStatus('Please log in or sign up.', 'info');
    else showError(err);
  } finally {
    setBusy(-1);
  }
}

els.loginForm.addEventListener('submit', login);
els.signupForm.addEventListener('submit', signup);
els.logout.addEventListener('click', logout);
els.logoutRetry.addEventListener('click', logout);
els.reload.addEventListener('click', () => withBusy(reloadAll));
els.prev.addEventListener('click', () => changePage(-1));
els.next.addEventListener('click', () => changePage(1));
els.personForm.addEventListener('submit', savePerson);
for (const button of els.relayButtons) {
  button.addEventListener('click', () => callUpstream(button.dataset.upstream));
}
els.personCancel.addEventListener('click', () => {
  resetPersonForm();
  setStatus('');
});

boot();
