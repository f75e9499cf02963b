// Calls to the service: the key (kept in sessionStorage, this tab only), errors as
// ApiProblem with the server's code and message, and the Server-Sent Events of
// POST /v1/query read from a fetch stream (EventSource cannot POST).

const KEY = "rag-key";

export class ApiProblem extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status; // 0: the server could not be reached
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function keepKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

async function problem(response) {
  let code = `http_${response.status}`;
  let message = response.statusText;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    // not JSON: the status says enough
  }
  const retry = Number(response.headers.get("Retry-After")) || null;
  return new ApiProblem(response.status, code, message, retry);
}

async function send(method, path, { json, form, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiProblem(0, "unreachable", String(error));
  }
  if (!response.ok) throw await problem(response);
  return response;
}

export async function getJson(path) {
  return (await send("GET", path)).json();
}

export async function postJson(path, json) {
  return (await send("POST", path, { json })).json();
}

export async function upload(kb, file) {
  const form = new FormData();
  form.append("files", file, file.name);
  return (await send("POST", `/v1/kbs/${encodeURIComponent(kb)}/documents`, { form })).json();
}

export async function remove(path) {
  await send("DELETE", path);
}

export async function readiness() {
  // public, and 503 carries the same body: read it either way
  try {
    const response = await fetch("/readyz");
    return await response.json();
  } catch (error) {
    throw new ApiProblem(0, "unreachable", String(error));
  }
}

// POST /v1/query with stream: true; calls on(event, data) for sources, token, done, error.
export async function streamQuery(body, on, signal) {
  const response = await send("POST", "/v1/query", { json: { ...body, stream: true }, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const frames = buffer.split(/\r?\n\r?\n/);
    buffer = frames.pop();
    for (const frame of frames) dispatch(frame, on);
  }
  if (buffer.trim()) dispatch(buffer, on);
}

function dispatch(frame, on) {
  let event = "message";
  const data = [];
  for (const line of frame.split(/\r?\n/)) {
    if (line.startsWith(":")) continue; // a ping
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length) on(event, JSON.parse(data.join("\n")));
}
