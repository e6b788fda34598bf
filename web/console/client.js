// The API client: the bearer token (kept in sessionStorage for this tab,
// never in the URL) and requests that turn every failure into an ApiError
// carrying the API's error code and message (docs/api.md, "Errors").

const kTokenKey = 'sluice.api-token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;  // 0 when sluice could not be reached
    this.code = code;
  }
}

export const token = {
  get: () => sessionStorage.getItem(kTokenKey),
  set: (value) => sessionStorage.setItem(kTokenKey, value),
  clear: () => sessionStorage.removeItem(kTokenKey),
};

// Sends one request; resolves {json, text}. `body` (an object) is sent as JSON.
// `bearer` overrides the stored token (the sign-in panel tries one first).
export async function request(path, {method = 'GET', body, bearer = token.get()} = {}) {
  if (!bearer) throw new ApiError(401, 'unauthorized', 'Sign in with the API token.');
  const headers = {Authorization: `Bearer ${bearer}`};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {method, headers, cache: 'no-store',
                                  body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (err) {
    throw new ApiError(0, 'unreachable', `Cannot reach sluice (${err.message}).`);
  }
  let text;
  try {
    text = await response.text();
  } catch (err) {
    throw new ApiError(0, 'unreachable', `The answer from sluice was cut off (${err.message}).`);
  }
  if (!response.ok) {
    let code = `http_${response.status}`;
    let message = `${method} ${path}: HTTP ${response.status} ${response.statusText}`.trim();
    try {
      const error = JSON.parse(text).error;
      if (error?.code) code = error.code;
      if (error?.message) message = error.message;
    } catch {
      // Not the API's JSON error: keep the status line.
    }
    throw new ApiError(response.status, code, message);
  }
  try {
    return {json: text ? JSON.parse(text) : null, text};
  } catch (err) {
    throw new ApiError(response.status, 'bad_response', `${method} ${path}: the answer is not JSON (${err.message}).`);
  }
}

export async function api(path, options) {
  return (await request(path, options)).json;
}

const enc = encodeURIComponent;

export const paths = {
  sinks: () => '/api/sinks',
  sink: (name) => `/api/sinks/${enc(name)}`,
  pause: (name) => `/api/sinks/${enc(name)}/pause`,
  resume: (name) => `/api/sinks/${enc(name)}/resume`,
  messages: (name, {state, limit, cursor}) => {
    const query = new URLSearchParams();
    if (state) query.set('state', state);
    if (limit) query.set('limit', String(limit));
    if (cursor) query.set('cursor', cursor);
    const q = query.toString();
    return `/api/sinks/${enc(name)}/messages${q ? `?${q}` : ''}`;
  },
  message: (name, id) => `/api/sinks/${enc(name)}/messages/${enc(id)}`,
  messageAction: (name, id, action) => `/api/sinks/${enc(name)}/messages/${enc(id)}/${action}`,
  bulkAction: (name, action) => `/api/sinks/${enc(name)}/messages/${action}`,
  backfills: (name) => `/api/sinks/${enc(name)}/backfills`,
  cancelBackfill: (name, id) => `/api/sinks/${enc(name)}/backfills/${enc(id)}/cancel`,
};
