// The reference inbox: everything it shows comes from /api/v1 with the user's bearer token.
import { Api, ApiError, explain } from "./api.js";
import { bytes, clear, fullDate, h, messageBody, when } from "./dom.js";
import { connectEvents } from "./events.js";

const TOKEN_KEY = "inbox.token";
const NAME_KEY = "inbox.name";
const $ = (id) => document.getElementById(id);

const REPORT_REASONS = {
  spam: "Spam",
  scam: "Scam or fraud",
  harassment: "Harassment or threats",
  discrimination: "Discrimination",
  inappropriate_content: "Inappropriate content",
  other: "Something else",
};
const REPORT_STATUS = {
  received: "Received, waiting for a moderator",
  under_review: "Under review",
  action_taken: "Action taken",
  no_violation: "No violation found",
};
const DECISION_KINDS = {
  removed: "A message of yours was removed",
  warned: "You received a warning",
  suspended: "Your account was suspended",
  dismissed: "Report dismissed",
  restored: "A message of yours was restored",
  warning_withdrawn: "A warning was withdrawn",
  suspension_lifted: "Your suspension was lifted",
  suspension_shortened: "Your suspension was shortened",
};
const APPEAL_STATUS = {
  open: "Your appeal is waiting for a moderator who did not take the decision.",
  upheld: "Your appeal was reviewed and the decision upheld.",
  overturned: "Your appeal succeeded: the decision was overturned.",
  partially_overturned: "Your appeal partly succeeded: the decision was partially overturned.",
};

const state = {
  api: null,
  me: null,
  name: null,
  events: null,
  threads: [],
  page: 1,
  total: 0,
  previews: new Map(),
  applications: new Map(),
  thread: null,
  messages: [],
  shown: new Set(),
  nextAfter: null,
  blocked: new Set(),
  pendingUploads: [],
  reportTarget: null,
  listTimer: null,
};

// ---- sign-in ---------------------------------------------------------------------------------

function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

async function signIn(token, name) {
  const claims = claimsOf(token);
  if (!claims || !claims.sub) throw new Error("That does not look like a token: it should be three parts separated by dots.");
  const api = new Api(token, () => signOut("Your sign-in is no longer valid. Please sign in again."));
  try {
    await api.get("/messages/unread-count");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new Error("That token was not accepted: it may have expired, been mistyped, or be for another server.");
    }
    if (error instanceof ApiError && error.status === 403) {
      throw new Error("That token is not a user's token (a provisioning token cannot read messages).");
    }
    throw new Error(explain(error));
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  if (name) sessionStorage.setItem(NAME_KEY, name);
  else sessionStorage.removeItem(NAME_KEY);
  start(api, claims.sub, name);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(NAME_KEY);
  if (state.events) state.events.close();
  Object.assign(state, { api: null, me: null, events: null, thread: null, threads: [] });
  state.previews.clear();
  state.applications.clear();
  state.blocked.clear();
  for (const option of [...$("filter-application").options].slice(1)) option.remove();
  $("filters").reset();
  clear($("thread-list"));
  clear($("detail-pane"));
  location.hash = "";
  showSignIn(message || "");
}

function showSignIn(message) {
  $("app").hidden = true;
  $("sections").hidden = true;
  $("sign-out").hidden = true;
  $("live-status").hidden = true;
  $("unread-badge").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  document.title = "Sign in · Inbox";
  loadDemoUsers();
}

async function loadDemoUsers() {
  const source = document.body.dataset.demoUsers;
  if (!source || $("demo-user-list").childElementCount) return;
  let users = [];
  try {
    const response = await fetch(source, { credentials: "omit", cache: "no-store" });
    if (response.ok) users = (await response.json()).users;
  } catch {
    return;
  }
  if (!users.length) return;
  const list = $("demo-user-list");
  for (const user of users) {
    list.append(
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "quiet",
            onclick: () => signIn(user.token, user.name).catch((error) => ($("sign-in-error").textContent = error.message)),
          },
          h("span", { class: "visually-hidden" }, "Sign in as "),
          h("span", { class: "name" }, user.name),
          h("span", { class: "role" }, user.role === "employer" ? "Employer" : "Candidate"),
        ),
      ),
    );
  }
  $("demo-users").hidden = false;
}

function start(api, me, name) {
  Object.assign(state, { api, me, name: name || null });
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sections").hidden = false;
  $("sign-out").hidden = false;
  clear($("sign-out"));
  $("sign-out").append("Sign out", name ? h("span", { class: "wide-only" }, ` (${name})`) : "");
  $("token").value = "";
  state.events = connectEvents(api, onEvent, showLiveStatus);
  refreshUnread();
  refreshBlocks();
  loadThreads();
  route();
}

// ---- live events -------------------------------------------------------------------------------

function showLiveStatus(status) {
  const element = $("live-status");
  element.hidden = false;
  element.dataset.status = status;
  element.textContent = status === "live" ? "Live" : "Reconnecting…";
}

function onEvent(type, data) {
  if (type === "unread.changed") {
    showUnread(data.unread_count);
    return;
  }
  if (type === "resync") {
    refreshUnread();
    loadThreads();
    if (state.thread) openThread(state.thread.id, { quiet: true });
    return;
  }
  if (type === "message.created") {
    state.previews.set(data.thread_id, data.preview);
    if (data.sender_id !== state.me) {
      const known = state.threads.find((t) => t.id === data.thread_id);
      announce(`New message${known ? " from " + known.other_participant.display_name : ""}: ${data.preview}`);
    }
    if (state.thread && state.thread.id === data.thread_id) fetchNewer();
  }
  if (type === "message.read" && state.thread && state.thread.id === data.thread_id) {
    const message = state.messages.find((m) => m.id === data.message_id);
    if (message) {
      message.is_read = true;
      message.read_at = data.read_at;
      updateReceipt(message);
    }
  }
  if (type === "message.removed" && state.thread && state.thread.id === data.thread_id) {
    openThread(state.thread.id, { quiet: true });
  }
  if (type === "thread.deleted" && state.thread && state.thread.id === data.thread_id) {
    location.hash = "#/"; // deleted in another tab or device
  }
  scheduleListRefresh();
}

function scheduleListRefresh() {
  clearTimeout(state.listTimer);
  state.listTimer = setTimeout(loadThreads, 150);
}

async function refreshUnread() {
  try {
    const counts = await state.api.get("/messages/unread-count");
    showUnread(counts.unread_count);
  } catch {
    /* the badge keeps its value; the list shows the error */
  }
}

function showUnread(count) {
  const badge = $("unread-badge");
  badge.hidden = count === 0;
  clear(badge);
  badge.append(String(count), h("span", { class: "visually-hidden" }, ` unread message${count === 1 ? "" : "s"}`));
  document.title = count ? `(${count}) Inbox` : "Inbox";
}

function announce(text) {
  const region = $("announcer");
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50);
}

async function refreshBlocks() {
  try {
    const answer = await state.api.get("/messages/blocks");
    state.blocked = new Set(answer.blocks.map((block) => block.blocked_user_id));
  } catch {
    state.blocked = new Set();
  }
}

// ---- thread list -------------------------------------------------------------------------------

async function loadThreads({ more = false } = {}) {
  if (!state.api) return;
  const show = $("filter-show").value;
  const page = more ? state.page + 1 : 1;
  try {
    const answer = await state.api.get("/messages/threads", {
      unread_only: show === "unread" ? "true" : undefined,
      archived: show === "archived" ? "true" : undefined,
      application_id: $("filter-application").value || undefined,
      page,
      limit: 20,
    });
    state.threads = more ? [...state.threads, ...answer.threads] : answer.threads;
    state.page = page;
    state.total = answer.total;
    $("list-error").textContent = "";
    if (show !== "archived") showUnread(answer.unread_count);
    renderThreads();
  } catch (error) {
    $("list-error").textContent = explain(error);
  }
}

function renderThreads() {
  const list = $("thread-list");
  clear(list);
  for (const thread of state.threads) {
    if (thread.application_id && !state.applications.has(thread.application_id)) {
      state.applications.set(thread.application_id, thread.subject || `${thread.other_participant.display_name}`);
      $("filter-application").append(h("option", { value: thread.application_id }, state.applications.get(thread.application_id)));
    }
    const unread = thread.unread_count;
    const current = state.thread && state.thread.id === thread.id;
    const preview = state.previews.get(thread.id);
    list.append(
      h(
        "li",
        {},
        h(
          "a",
          {
            href: `#/thread/${thread.id}`,
            class: `thread-link${unread ? " unread" : ""}`,
            "aria-current": current ? "page" : null,
            dataset: { threadId: thread.id },
          },
          h(
            "span",
            { class: "thread-top" },
            h("span", { class: "who" }, thread.other_participant.display_name),
            when(thread.last_message_at),
          ),
          h(
            "span",
            { class: "thread-bottom" },
            h("span", { class: "subject" }, preview || thread.subject || (thread.other_participant.role === "employer" ? "Employer" : "Candidate")),
            unread
              ? h("span", { class: "badge" }, String(unread), h("span", { class: "visually-hidden" }, " unread"))
              : null,
            thread.is_archived ? h("span", { class: "tag" }, "Archived") : null,
          ),
        ),
      ),
    );
  }
  $("list-empty").hidden = state.threads.length > 0;
  $("list-more").hidden = state.threads.length >= state.total;
}

// ---- routing ---------------------------------------------------------------------------------

function route() {
  if (!state.api) return;
  const [, section, id] = location.hash.replace(/^#/, "").split("/");
  const detail = $("detail-pane");
  document.body.classList.toggle("showing-detail", Boolean(section));
  for (const link of $("sections").querySelectorAll("a")) {
    const mine = link.dataset.section === (section === "reports" || section === "decisions" ? section : "messages");
    if (mine) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("list-pane").hidden = section === "reports" || section === "decisions";
  document.body.classList.toggle("wide-detail", section === "reports" || section === "decisions");
  if (section === "thread" && id) return openThread(id);
  state.thread = null;
  renderThreads();
  if (section === "new") return showNewMessage();
  if (section === "reports") return showReports();
  if (section === "decisions") return showDecisions();
  clear(detail);
  detail.append(h("div", { class: "placeholder" }, h("p", {}, "Choose a conversation to read it.")));
}

function focusHeading(container) {
  const heading = container.querySelector("h1, h2");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

// ---- a thread ----------------------------------------------------------------------------------

async function openThread(id, { quiet = false } = {}) {
  const detail = $("detail-pane");
  let answer;
  try {
    answer = await state.api.get(`/messages/threads/${id}`, { limit: 50 });
  } catch (error) {
    clear(detail);
    detail.append(h("div", { class: "placeholder" }, h("p", { class: "error", role: "alert" }, explain(error)), h("a", { href: "#/" }, "Back to messages")));
    return;
  }
  state.thread = answer.thread;
  state.messages = answer.messages;
  state.shown = new Set(answer.messages.map((m) => m.id));
  state.nextAfter = answer.next_after || null;
  state.pendingUploads = [];
  const listed = state.threads.find((t) => t.id === id);
  if (listed) listed.unread_count = 0; // everything shown is marked read just below
  renderThreads();
  renderThread();
  markRead(answer.messages);
  if (!quiet) focusHeading(detail);
  const list = detail.querySelector(".messages");
  if (list) list.scrollTop = list.scrollHeight;
}

async function fetchNewer() {
  const thread = state.thread;
  if (!thread || state.nextAfter) return; // later pages are loaded by "Show later messages"
  const last = state.messages[state.messages.length - 1];
  try {
    const answer = await state.api.get(`/messages/threads/${thread.id}`, { after: last ? last.id : undefined, limit: 50 });
    if (!state.thread || state.thread.id !== thread.id) return;
    const fresh = answer.messages.filter((m) => !state.shown.has(m.id));
    appendMessages(fresh);
    state.nextAfter = answer.next_after || null;
    markRead(fresh);
  } catch {
    /* the next event or a reload brings them */
  }
}

async function showLater() {
  const thread = state.thread;
  try {
    const answer = await state.api.get(`/messages/threads/${thread.id}`, { after: state.nextAfter, limit: 50 });
    appendMessages(answer.messages.filter((m) => !state.shown.has(m.id)));
    state.nextAfter = answer.next_after || null;
    $("later").hidden = !state.nextAfter;
    markRead(answer.messages);
  } catch (error) {
    $("thread-status").textContent = explain(error);
  }
}

function markRead(messages) {
  if (document.visibilityState === "hidden") return;
  for (const message of messages) {
    if (message.recipient_id === state.me && !message.is_read) {
      message.is_read = true;
      state.api.put(`/messages/${message.id}/read`).catch(() => {
        message.is_read = false;
      });
    }
  }
}

function appendMessages(messages) {
  const list = document.querySelector("#detail-pane .messages");
  if (!list) return;
  for (const message of messages) {
    state.shown.add(message.id);
    state.messages.push(message);
    list.append(messageItem(message));
  }
  list.scrollTop = list.scrollHeight;
}

function receiptText(message) {
  if (message.sender_id !== state.me) return "";
  if (message.is_read && message.read_at) {
    return ["Read ", when(message.read_at)];
  }
  return "Sent, not read yet";
}

function updateReceipt(message) {
  const element = document.querySelector(`[data-receipt-for="${message.id}"]`);
  if (!element) return;
  clear(element);
  element.append(...[receiptText(message)].flat());
  element.classList.toggle("read", Boolean(message.is_read));
}

function attachmentItem(attachment) {
  if (!attachment.id) {
    return h("li", {}, h("a", { href: attachment.url, rel: "noopener noreferrer nofollow", target: "_blank" }, attachment.filename), ` (link, ${bytes(attachment.size_bytes)})`);
  }
  return h(
    "li",
    {},
    h("button", { type: "button", class: "link", onclick: () => download(attachment) }, `Download ${attachment.filename}`),
    ` (${bytes(attachment.size_bytes)})`,
  );
}

async function download(attachment) {
  try {
    const response = await fetch(`/api/v1/attachments/${attachment.id}`, {
      headers: { Authorization: `Bearer ${state.api.token}` },
      credentials: "omit",
    });
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null;
      }
      throw new ApiError(response.status, body, null);
    }
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: attachment.filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    $("thread-status").textContent = error.status === 410 ? "This file is no longer available (removed by a moderator or deleted under the retention policy)." : explain(error);
  }
}

function messageItem(message) {
  const mine = message.sender_id === state.me;
  const name = mine ? "You" : state.thread.other_participant.display_name;
  const actions = [];
  if (!mine && !message.is_purged) {
    actions.push(
      message.is_flagged
        ? h("span", { class: "reported" }, "You reported this message")
        : h("button", { type: "button", class: "link", onclick: () => openReport(message) }, "Report this message"),
    );
  }
  return h(
    "li",
    { class: `message ${mine ? "mine" : "theirs"}`, id: `message-${message.id}` },
    h("p", { class: "meta" }, h("span", { class: "sender" }, name), " · ", when(message.created_at)),
    message.subject ? h("p", { class: "message-subject" }, message.subject) : null,
    messageBody(message),
    message.attachments.length ? h("ul", { class: "attachments", "aria-label": "Attachments" }, message.attachments.map(attachmentItem)) : null,
    mine ? h("p", { class: `receipt${message.is_read ? " read" : ""}`, dataset: { receiptFor: message.id } }, receiptText(message)) : null,
    actions.length ? h("p", { class: "message-actions" }, actions) : null,
  );
}

function renderThread() {
  const thread = state.thread;
  const other = thread.other_participant;
  const detail = $("detail-pane");
  clear(detail);
  const blocked = state.blocked.has(other.id);
  detail.append(
    h(
      "article",
      { class: "thread", "aria-labelledby": "thread-heading" },
      h(
        "header",
        { class: "thread-head" },
        h("a", { href: "#/", class: "back" }, "← Messages"),
        h("h2", { id: "thread-heading" }, other.display_name),
        h("p", { class: "thread-sub" }, [thread.subject, other.role === "employer" ? "Employer" : "Candidate"].filter(Boolean).join(" · ")),
        h(
          "div",
          { class: "thread-actions" },
          h("button", { type: "button", class: "quiet small", onclick: toggleArchive }, thread.is_archived ? "Move to inbox" : "Archive"),
          h("button", { type: "button", class: "quiet small", onclick: confirmDelete }, "Delete for me"),
          blocked
            ? h("button", { type: "button", class: "quiet small", onclick: unblock }, "Unblock")
            : h("button", { type: "button", class: "quiet small danger-text", onclick: openBlock }, "Block"),
        ),
        h("p", { id: "thread-status", class: "status", role: "status" }, blocked ? `You blocked ${other.display_name}. Neither of you can message the other.` : ""),
      ),
      h("ol", { class: "messages", "aria-label": `Messages with ${other.display_name}`, tabindex: "0" }, state.messages.map(messageItem)),
      h("button", { id: "later", type: "button", class: "quiet", hidden: !state.nextAfter, onclick: showLater }, "Show later messages"),
      composer({ recipientId: other.id, applicationId: thread.application_id }),
    ),
  );
}

async function toggleArchive() {
  const thread = state.thread;
  try {
    state.thread = await state.api.patch(`/messages/threads/${thread.id}/archive`, { archived: thread.is_archived ? "false" : "true" });
    renderThread();
    $("thread-status").textContent = state.thread.is_archived ? "Archived. It comes back to your inbox when a new message arrives." : "Moved back to your inbox.";
    loadThreads();
  } catch (error) {
    $("thread-status").textContent = explain(error);
  }
}

function confirmDelete() {
  const dialog = $("confirm-dialog");
  dialog.returnValue = "";
  dialog.showModal();
}

async function deleteThread() {
  const thread = state.thread;
  try {
    await state.api.delete(`/messages/threads/${thread.id}`);
    location.hash = "#/";
    loadThreads();
  } catch (error) {
    $("thread-status").textContent = explain(error);
  }
}

function openBlock() {
  $("block-name").textContent = state.thread.other_participant.display_name;
  $("block-error").textContent = "";
  $("block-note").value = "";
  $("block-dialog").showModal();
}

async function submitBlock(event) {
  event.preventDefault();
  const other = state.thread.other_participant;
  const note = $("block-note").value.trim();
  try {
    await state.api.post("/messages/block", { user_id: other.id, reason: $("block-reason").value, note: note || undefined });
  } catch (error) {
    $("block-error").textContent = explain(error, "block");
    return;
  }
  $("block-dialog").close();
  state.blocked.add(other.id);
  renderThread();
  $("thread-status").textContent = `You blocked ${other.display_name}. Neither of you can message the other.`;
  focusHeading($("detail-pane"));
}

async function unblock() {
  const other = state.thread.other_participant;
  try {
    await state.api.delete(`/messages/block/${other.id}`);
    state.blocked.delete(other.id);
    renderThread();
    $("thread-status").textContent = `You unblocked ${other.display_name}.`;
  } catch (error) {
    $("thread-status").textContent = explain(error);
  }
}

function openReport(message) {
  state.reportTarget = message;
  $("report-error").textContent = "";
  $("report-note").value = "";
  $("report-dialog").showModal();
}

async function submitReport(event) {
  event.preventDefault();
  const message = state.reportTarget;
  const note = $("report-note").value.trim();
  let answer;
  try {
    answer = await state.api.post(`/messages/${message.id}/flag`, undefined, { reason: $("report-reason").value, note: note || undefined });
  } catch (error) {
    $("report-error").textContent = explain(error, "report");
    return;
  }
  $("report-dialog").close();
  Object.assign(message, { is_flagged: true, flagged_reason: answer.flagged_reason });
  const old = document.getElementById(`message-${message.id}`);
  if (old) old.replaceWith(messageItem(message));
  $("thread-status").textContent = "Thank you. Your report was received; its outcome will be under My reports.";
}

// ---- composing -------------------------------------------------------------------------------

function composer({ recipientId, applicationId, fresh = false }) {
  const uploads = h("ul", { class: "uploads", "aria-label": "Files to send" });
  const error = h("p", { class: "error", role: "alert", id: "composer-error" });
  const fields = [];
  if (fresh) {
    fields.push(
      h("label", { for: "recipient" }, "Recipient's user id"),
      h("input", { id: "recipient", name: "recipient_id", required: true, autocomplete: "off", spellcheck: "false" }),
      h("label", { for: "application" }, "Application id (optional)"),
      h("input", { id: "application", name: "application_id", autocomplete: "off", spellcheck: "false" }),
      h("label", { for: "subject" }, "Subject (optional)"),
      h("input", { id: "subject", name: "subject", maxlength: "500" }),
    );
  }
  const form = h(
    "form",
    { class: "composer", id: "composer", "aria-label": "Write a message" },
    fields,
    h("label", { for: "body" }, "Message"),
    h("textarea", { id: "body", name: "body", rows: "3", required: true, maxlength: "10000" }),
    h(
      "div",
      { class: "composer-row" },
      h(
        "span",
        { class: "format" },
        h("label", { for: "format" }, "Format"),
        h("select", { id: "format", name: "body_format" }, h("option", { value: "plain" }, "Plain text"), h("option", { value: "html" }, "HTML (bold, lists, links)")),
      ),
      h("label", { for: "files", class: "button quiet small file-button" }, "Attach files"),
      h("input", { id: "files", type: "file", multiple: true, class: "visually-hidden", accept: ".pdf,.docx,.doc,.odt,.rtf,.txt,.png,.jpg,.jpeg" }),
      h("button", { type: "submit", id: "send" }, "Send"),
    ),
    uploads,
    error,
  );
  form.querySelector("#files").addEventListener("change", (event) => {
    for (const file of event.target.files) upload(file, uploads, error);
    event.target.value = "";
  });
  form.querySelector("#body").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(form, { recipientId, applicationId, fresh }, uploads, error);
  });
  return form;
}

async function upload(file, list, error) {
  const pending = { file, id: null };
  const item = h("li", {}, h("span", {}, `${file.name} (${bytes(file.size)}): uploading…`));
  list.append(item);
  state.pendingUploads.push(pending);
  const remove = () => {
    state.pendingUploads = state.pendingUploads.filter((p) => p !== pending);
    item.remove();
  };
  try {
    const uploaded = await state.api.upload(file);
    pending.id = uploaded.id;
    clear(item);
    item.append(
      h("span", {}, `${uploaded.filename} (${bytes(uploaded.size_bytes)})`),
      h("button", { type: "button", class: "quiet small", onclick: remove, "aria-label": `Remove ${uploaded.filename}` }, "Remove"),
    );
  } catch (failure) {
    remove();
    error.textContent = `${file.name}: ${explain(failure, "upload")}`;
  }
}

async function send(form, { recipientId, applicationId, fresh }, uploads, error) {
  const body = form.querySelector("#body").value;
  if (!body.trim()) {
    error.textContent = "Write a message first.";
    form.querySelector("#body").focus();
    return;
  }
  if (state.pendingUploads.some((p) => !p.id)) {
    error.textContent = "Wait until the files have uploaded.";
    return;
  }
  const data = {
    recipient_id: fresh ? form.querySelector("#recipient").value.trim() : recipientId,
    body,
    body_format: form.querySelector("#format").value,
    attachment_ids: state.pendingUploads.map((p) => p.id),
  };
  const application = fresh ? form.querySelector("#application").value.trim() : applicationId;
  if (application) data.application_id = application;
  const subject = fresh ? form.querySelector("#subject").value.trim() : "";
  if (subject) data.subject = subject;
  const button = form.querySelector("#send");
  button.disabled = true;
  try {
    const sent = await state.api.post("/messages", data);
    error.textContent = "";
    form.querySelector("#body").value = "";
    state.pendingUploads = [];
    clear(uploads);
    if (fresh) {
      location.hash = `#/thread/${sent.thread.id}`;
    } else if (!state.shown.has(sent.message.id)) {
      appendMessages([sent.message]);
    }
    scheduleListRefresh();
  } catch (failure) {
    error.textContent = explain(failure, "send");
  } finally {
    button.disabled = false;
  }
}

function showNewMessage() {
  const detail = $("detail-pane");
  clear(detail);
  state.pendingUploads = [];
  detail.append(
    h(
      "article",
      { class: "thread new-message", "aria-labelledby": "new-heading" },
      h("header", { class: "thread-head" }, h("a", { href: "#/", class: "back" }, "← Messages"), h("h2", { id: "new-heading" }, "New message")),
      h("p", { class: "hint" }, "Your platform usually starts a conversation from a job application; here you can write to someone by their user id."),
      composer({ fresh: true }),
    ),
  );
  focusHeading(detail);
}

// ---- reports, decisions, appeals ---------------------------------------------------------------

function appealBlock(decisionId, appeal, appealable, until, onDone) {
  if (appeal) {
    return h(
      "div",
      { class: "appeal" },
      h("p", {}, h("strong", {}, "Appeal: "), APPEAL_STATUS[appeal.status] || appeal.status),
      appeal.reasoning ? h("p", { class: "plain" }, appeal.reasoning) : null,
    );
  }
  if (!appealable) return null;
  const id = `appeal-${decisionId}`;
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "appeal-form" },
    h("label", { for: id }, "Appeal: say why the decision is wrong"),
    h("textarea", { id, rows: "3", maxlength: "2000", required: true }),
    h("p", { class: "hint" }, "You can appeal once, until ", fullDate(until), ". A moderator who did not take the decision reviews it."),
    error,
    h("button", { type: "submit" }, "Send appeal"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = form.querySelector("textarea").value;
    if (!text.trim()) {
      error.textContent = "Write why you appeal first.";
      return;
    }
    try {
      await state.api.post("/moderation/appeals", { decision_id: decisionId, text });
      onDone();
    } catch (failure) {
      error.textContent = explain(failure, "appeal");
    }
  });
  return form;
}

// "My reports" and "Decisions about me": a list of cards from one endpoint, each with its appeal.
async function showNotices(path, title, empty, items, card) {
  const detail = $("detail-pane");
  let answer;
  try {
    answer = await state.api.get(path);
  } catch (error) {
    clear(detail);
    detail.append(h("p", { class: "error", role: "alert" }, explain(error)));
    return;
  }
  const listed = items(answer);
  clear(detail);
  detail.append(
    h(
      "section",
      { class: "notices", "aria-labelledby": "notices-heading" },
      h("h1", { id: "notices-heading" }, title),
      listed.length ? null : h("p", { class: "empty" }, empty),
      h("ul", { class: "cards" }, listed.map(card)),
    ),
  );
  focusHeading(detail);
}

function showReports() {
  return showNotices(
    "/moderation/reports",
    "My reports",
    "You have not reported any message.",
    (answer) => answer.reports,
    (report) =>
      h(
        "li",
        { class: `card status-${report.status}` },
        h("h2", {}, REPORT_REASONS[report.reason] || report.reason),
        h("p", { class: "meta" }, "Reported ", fullDate(report.reported_at)),
        h("p", { class: "outcome" }, h("strong", {}, REPORT_STATUS[report.status] || report.status), report.decided_at ? [" · ", fullDate(report.decided_at)] : null),
        report.policy_title ? h("p", {}, "Rule applied: ", report.policy_title) : null,
        report.public_note ? h("p", { class: "plain" }, "From the moderators: ", report.public_note) : null,
        report.note ? h("p", { class: "plain muted" }, "Your note: ", report.note) : null,
        h("p", {}, h("a", { href: `#/thread/${report.thread_id}` }, "Open the conversation")),
        appealBlock(report.decision_id, report.appeal, report.appealable, report.appealable_until, showReports),
      ),
  );
}

function showDecisions() {
  return showNotices(
    "/moderation/decisions",
    "Decisions about me",
    "No moderation decision has been taken about you.",
    (answer) => answer.decisions,
    (decision) =>
      h(
        "li",
        { class: "card" },
        h("h2", {}, DECISION_KINDS[decision.kind] || decision.kind),
        h("p", { class: "meta" }, fullDate(decision.decided_at), decision.source === "notice" ? " · after a report" : " · on the moderators' own review"),
        decision.policy ? h("p", {}, "Rule: ", decision.policy.title) : null,
        decision.restricted_until ? h("p", {}, "Until ", fullDate(decision.restricted_until)) : null,
        h("p", { class: "plain statement" }, decision.statement),
        decision.overturned ? h("p", {}, h("strong", {}, "This decision was overturned on appeal.")) : null,
        appealBlock(decision.id, decision.appeal, decision.appealable, decision.appealable_until, showDecisions),
      ),
  );
}

// ---- wiring ------------------------------------------------------------------------------------

function wire() {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) {
      $("sign-in-error").textContent = "Paste your token first.";
      $("token").focus();
      return;
    }
    signIn(token).catch((error) => {
      $("sign-in-error").textContent = error.message;
      $("token").focus();
    });
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("filters").addEventListener("change", () => loadThreads());
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("list-more").addEventListener("click", () => loadThreads({ more: true }));
  $("block-form").addEventListener("submit", submitBlock);
  $("report-form").addEventListener("submit", submitReport);
  $("confirm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("confirm-dialog").close();
    deleteThread();
  });
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.thread) markRead(state.messages);
  });
  window.addEventListener("pagehide", () => state.events && state.events.close());
}

wire();
const saved = sessionStorage.getItem(TOKEN_KEY);
const claims = saved ? claimsOf(saved) : null;
if (saved && claims && claims.sub) {
  start(new Api(saved, () => signOut("Your sign-in is no longer valid. Please sign in again.")), claims.sub, sessionStorage.getItem(NAME_KEY));
} else {
  showSignIn("");
}
