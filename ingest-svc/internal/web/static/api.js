// API calls of the web UI: the key (sessionStorage only) and errors that
// say what to do.

const KEY = 'geostream.api-key';

/** An answer other than 2xx, with the server's message. */
export class APIError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY) || '';
}

export function setKey(k) {
  if (k) sessionStorage.setItem(KEY, k);
  else sessionStorage.removeItem(KEY);
}

/** GET path (relative to this origin) as JSON; throws APIError. */
export async function get(path) {
  const headers = { Accept: 'application/json' };
  const key = getKey();
  if (key) headers.Authorization = 'Bearer ' + key;
  let r;
  try {
    r = await fetch(path, { headers, cache: 'no-store' });
  } catch (e) {
    throw new APIError(0, 'the server does not answer (' + e.message + ')');
  }
  let body = null;
  try {
    body = await r.json();
  } catch {
    // a body that is not JSON: the status says enough
  }
  if (r.ok) return body;
  const msg = (body && body.error) || r.statusText || 'HTTP ' + r.status;
  throw new APIError(r.status, msg, Number(r.headers.get('Retry-After')) || 0);
}
