// Service worker: the app shell, PouchDB and the form schemas are cached so the app
// starts offline from the second visit, also after the browser restarts.
// Shell: cache first (it changes only with a release, which changes VERSION and so this
// file). Form schemas: network first with a short timeout, the cached copy offline.
// /db/ (sync) and the other /api/ calls always go to the network.

const VERSION = '0.3.0-3';
const SHELL_CACHE = 'shell-' + VERSION;
const FORMS_CACHE = 'forms';
const SHELL_FILES = [
  '/app/',
  '/app/app.css',
  '/app/manifest.webmanifest',
  '/app/icons/icon.svg',
  '/app/icons/icon-192.png',
  '/app/vendor/pouchdb.min.js',
  '/app/vendor/qrcode.js',
  '/app/vendor/jsQR.js',
  '/app/js/app.js',
  '/app/js/carry.js',
  '/app/js/clock.js',
  '/app/js/device.js',
  '/app/js/dom.js',
  '/app/js/forms.js',
  '/app/js/handover.js',
  '/app/js/i18n.js',
  '/app/js/keys.js',
  '/app/js/relay_codec.js',
  '/app/js/store.js',
  '/app/js/sync.js',
  '/app/js/validate.js',
  '/app/js/version.js',
];
const FORM_URLS = ['/api/v1/forms', '/api/v1/forms/daily_health', '/api/v1/forms/incident', '/api/v1/forms/inspection', '/api/v1/forms/explanation'];
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const shell = await caches.open(SHELL_CACHE);
    await shell.addAll(SHELL_FILES.map((url) => new Request(url, { cache: 'reload' })));
    const forms = await caches.open(FORMS_CACHE);
    await Promise.all(FORM_URLS.map((url) => fetch(url, { cache: 'no-store' })
      .then((r) => (r.ok ? forms.put(url, r) : null)).catch(() => null)));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== SHELL_CACHE && name !== FORMS_CACHE) { await caches.delete(name); }
    }
    await self.clients.claim();
  })());
});

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

async function formsFirstNetwork(request) {
  const cache = await caches.open(FORMS_CACHE);
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    if (response.ok) { await cache.put(request.url, response.clone()); return response; }
    return (await cache.match(request.url)) || response;
  } catch (err) {
    const cached = await cache.match(request.url);
    if (cached) { return cached; }
    throw err;
  }
}

async function shellFirstCache(request) {
  const cache = await caches.open(SHELL_CACHE);
  const isPage = request.mode === 'navigate';
  // '/app/index.html' redirects to '/app/' on the service, and a redirected response may not
  // answer a navigation: every page of the app is the shell at '/app/'.
  const cached = await cache.match(isPage ? '/app/' : request, { ignoreSearch: true });
  if (cached) { return cached; }
  return fetch(request);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') { return; }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.startsWith('/api/v1/forms')) { event.respondWith(formsFirstNetwork(request)); return; }
  if (url.pathname.startsWith('/app/')) { event.respondWith(shellFirstCache(request)); }
});
