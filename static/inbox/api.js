// The public API (/api/v1) with the signed-in user's bearer token, and its errors in plain words.

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = body ? body.code : undefined;
    this.field = body ? body.field : undefined;
    this.detail = body ? body.detail : undefined;
    this.retryAfter = retryAfter;
  }
}

export class Api {
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, { json, form, query } = {}) {
    const url = new URL(BASE + path, location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body, credentials: "omit", cache: "no-store" });
    } catch {
      throw new ApiError(0, { detail: "network", code: "network" });
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
      const error = new ApiError(response.status, data, Number.isFinite(retry) ? retry : null);
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(error);
      throw error;
    }
    return data;
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }
  post(path, json, query) {
    return this.request("POST", path, { json, query });
  }
  put(path) {
    return this.request("PUT", path);
  }
  patch(path, query) {
    return this.request("PATCH", path, { query });
  }
  delete(path) {
    return this.request("DELETE", path);
  }
  upload(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    return this.request("POST", "/attachments", { form });
  }
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayAndClock = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  hour: "numeric",
  minute: "2-digit",
});

// "in about 3 hours (at 9:41 PM)" for a Retry-After of that many seconds.
export function whenAgain(seconds) {
  const at = new Date(Date.now() + seconds * 1000);
  let span;
  if (seconds < 60) span = `${seconds} second${seconds === 1 ? "" : "s"}`;
  else if (seconds < 3600) {
    const minutes = Math.ceil(seconds / 60);
    span = `${minutes} minute${minutes === 1 ? "" : "s"}`;
  } else {
    const hours = Math.round(seconds / 3600);
    span = `about ${hours} hour${hours === 1 ? "" : "s"}`;
  }
  const sameDay = at.toDateString() === new Date().toDateString();
  return `in ${span} (${sameDay ? "at " + clock.format(at) : dayAndClock.format(at)})`;
}

const FIELD_NAMES = {
  body: "the message",
  recipient_id: "the recipient",
  application_id: "the application",
  attachment_ids: "the attachments",
  note: "the note",
  text: "the appeal",
  file: "the file",
};

// What went wrong, in words a person can act on. `action` says what was being done:
// "send", "upload", "block", "report", "appeal", "events" or anything else.
export function explain(error, action) {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  const { status, code } = error;
  if (status === 0) return "The server could not be reached. Check your connection and try again.";
  if (status === 401) return "Your sign-in is no longer valid (the token expired or was revoked). Please sign in again.";
  if (status === 429) {
    const again = error.retryAfter != null ? ` You can try again ${whenAgain(error.retryAfter)}.` : "";
    if (action === "send") return `You have reached the limit of messages you can send in 24 hours.${again}`;
    return `Too many requests at once.${again}`;
  }
  if (code === "blocked") return "You cannot message this person: one of you has blocked the other.";
  if (code === "suspended") return `Your account is suspended, so you cannot send messages. ${error.detail || ""}`.trim();
  if (status === 413) {
    return action === "upload"
      ? "This file is too large: a file may be at most 25 MB."
      : "The attachments are too large: all files of a message together may be at most 25 MB.";
  }
  if (status === 415) return "This kind of file cannot be attached. Allowed: PDF, Word (DOCX, DOC), ODT, RTF, plain text, PNG and JPEG, with a matching file name.";
  if (code === "infected") return "The virus scanner flagged this file, so it cannot be attached.";
  if (status === 403) {
    if (action === "report") return "Only the person a message was sent to can report it.";
    if (action === "appeal") return "This decision cannot be appealed by you.";
    return "You are not allowed to do that.";
  }
  if (status === 404) return "That conversation or message no longer exists, or is no longer visible to you.";
  if (status === 410) return action === "appeal" ? "The time to appeal this decision has passed." : "This is no longer available.";
  if (status === 409) {
    if (action === "appeal") return "This decision has already been appealed or reversed.";
    if (action === "send") return "An attachment is already used by another message or is still being checked. Remove it and try again.";
    return `That could not be done: ${error.detail || "it conflicts with what is stored"}.`;
  }
  if (status === 400) {
    const what = FIELD_NAMES[error.field] || error.field;
    return what ? `Please check ${what}: ${error.detail}` : `That request was not accepted: ${error.detail}`;
  }
  if (status === 503) {
    const again = error.retryAfter != null ? ` Try again ${whenAgain(error.retryAfter)}.` : " Try again shortly.";
    return `The service is busy or briefly unavailable.${again}`;
  }
  return "Something went wrong on the server. Please try again later.";
}
