// Keyboard triage for the moderation dashboard. Served as a file (the CSP allows no inline
// script). Every key only clicks, focuses or submits what is already on the page, so everything
// here also works by mouse and, without script, by plain forms.
//
// A decision must never carry over to the next item: keys do nothing while a field has focus or
// while a page is on its way; when htmx swaps a page in, focus goes to its main heading, never to
// a field (htmx would otherwise refocus a field with the same id on the new page, and the next
// keys and Enter would decide on the next sender); forms are reset to what the server rendered
// on every page load, so a browser never restores text into a field of another item.
(function () {
  "use strict";

  var current = null; // message id of the highlighted queue row
  var loading = 0; // page or row requests on their way
  var loadingSince = 0;
  var LOADING_AT_MOST = 15000; // ms: a request htmx never closed must not silence the keys for good

  function isField(el) {
    if (!el || el.nodeType !== 1) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "INPUT") return !/^(checkbox|radio|button|submit|reset|image|hidden)$/i.test(el.type);
    return el.tagName === "TEXTAREA" || el.tagName === "SELECT";
  }

  function typing(event) {
    return isField(event.target) || isField(document.activeElement);
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-rows tr[data-message-id]"));
  }

  function currentRow() {
    var all = rows();
    for (var i = 0; i < all.length; i++) {
      if (all[i].dataset.messageId === current) return all[i];
    }
    return null;
  }

  function highlight(row) {
    rows().forEach(function (r) { r.classList.remove("current"); r.removeAttribute("aria-current"); });
    current = row ? row.dataset.messageId : null;
    if (row) {
      row.classList.add("current");
      row.setAttribute("aria-current", "true");
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(currentRow());
    index = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    highlight(all[index]);
  }

  function selectedBoxes() {
    return document.querySelectorAll("#queue-rows input[name=message_id]:checked");
  }

  function updateSelection() {
    rows().forEach(function (r) {
      var box = r.querySelector("input[name=message_id]");
      r.classList.toggle("selected", !!(box && box.checked));
    });
    var label = document.getElementById("selected-count");
    if (label) {
      var n = selectedBoxes().length;
      label.textContent = n ? n + " selected:" : "Select with x, then:";
    }
  }

  function ensureSelection() {
    if (selectedBoxes().length) return true;
    var row = currentRow();
    if (!row) return false;
    row.querySelector("input[name=message_id]").checked = true;
    updateSelection();
    return true;
  }

  function click(selector) {
    var el = document.querySelector(selector);
    if (el && !el.disabled) { el.click(); return true; }
    return false;
  }

  function focus(selector) {
    var el = document.querySelector(selector);
    if (el) { el.focus(); el.select && el.select(); return true; }
    return false;
  }

  function toggleHelp(force) {
    var help = document.getElementById("keys-help");
    if (!help) return;
    help.hidden = force === undefined ? !help.hidden : !force;
  }

  function queueKey(key) {
    var row = currentRow();
    switch (key) {
      case "j": move(1); return true;
      case "k": move(-1); return true;
      case "x":
        if (!row) return false;
        var box = row.querySelector("input[name=message_id]");
        box.checked = !box.checked;
        updateSelection();
        return true;
      case "Enter": case "o":
        if (!row) return false;
        row.querySelector("a.open").click();
        return true;
      case "n":
        if (!row) return false;
        window.location.assign("/mod/reports/" + row.dataset.messageId + "#note-body");
        return true;
      case "c":
        if (!row) return false;
        var form = document.getElementById("claim-form");
        form.action = "/mod/reports/" + row.dataset.messageId + "/claim";
        form.requestSubmit();
        return true;
      case "d": return ensureSelection() && click("#bulk-form button[value=dismiss]");
      case "e": return ensureSelection() && click("#bulk-form button[value=escalate]");
      case "r": return ensureSelection() && focus("#bulk-reason");
    }
    return false;
  }

  function reportKey(key) {
    switch (key) {
      case "j": return click("#next-link");
      case "k": window.location.assign("/mod"); return true;
      case "c": return click("#claim-btn");
      case "d": return click("#dismiss-btn");
      case "e": return focus("#escalate-note"); // escalating says why: type it, then Enter
      case "b": return focus("#send-back-note"); // compliance: send back, with a note
      case "r": return focus("#internal-note");
      case "n": return focus("#note-body");
      case "u": return click("#sender-link");
      case "w": return restrict("#warn-btn");
      case "x": return askToConfirm("#remove-btn");
      case "s": return askForDays();
    }
    return false;
  }

  // --- restrictions by key: warn at once; remove and suspend ask for one confirming key ------
  // A prompt under the restriction buttons says what the next key does. While it is shown, that
  // key is for the prompt only (a number picks a suspension's length, not a policy); any other
  // key, or Esc, cancels it and does nothing else.

  var DAYS = { "1": "1", "3": "3", "7": "7", "m": "30", "i": "indefinite" };
  var pending = null; // null | {days: true} | {button: selector}

  function prompt(text) {
    var box = document.getElementById("key-prompt");
    if (!box) return false;
    box.textContent = text || "";
    box.hidden = !text;
    return true;
  }

  function cancelPrompt() {
    pending = null;
    prompt("");
  }

  // The restriction form must be complete (a policy and the internal note) before anything is
  // asked or sent; otherwise the browser says what is missing and focuses it.
  function ready(button) {
    var form = button && button.form;
    if (!form || button.disabled) return false;
    if (!form.checkValidity()) { form.reportValidity(); return false; }
    return true;
  }

  function restrict(selector) {
    var button = document.querySelector(selector);
    if (!ready(button)) return !!button;
    button.click(); // a click, as by mouse: htmx then posts to the button's formaction
    return true;
  }

  function askToConfirm(selector) {
    var button = document.querySelector(selector);
    if (!button) return false;
    if (!ready(button)) return true;
    pending = { button: selector };
    var what = selector === "#suspend-btn"
      ? "Suspend the sender " + daysText() + "?"
      : "Remove this message?";
    prompt(what + " Press Enter or y to confirm, Esc to cancel.");
    return true;
  }

  function daysText() {
    var select = document.getElementById("suspend-days");
    var value = select ? select.value : "";
    if (value === "indefinite") return "indefinitely";
    return "for " + value + (value === "1" ? " day" : " days");
  }

  function askForDays() {
    var button = document.querySelector("#suspend-btn");
    if (!button) return false;
    if (!ready(button)) return true;
    pending = { days: true };
    prompt("Suspend for how long? 1 · 3 · 7 days, m = 30 days, i = indefinitely (Esc cancels).");
    return true;
  }

  function promptKey(key) {
    var now = pending;
    cancelPrompt();
    if (key === "Escape") return;
    if (now.days) {
      var select = document.getElementById("suspend-days");
      if (select && DAYS[key]) { select.value = DAYS[key]; askToConfirm("#suspend-btn"); }
      return;
    }
    if (now.button && (key === "Enter" || key === "y")) {
      var button = document.querySelector(now.button);
      if (button && ready(button)) button.click();
    }
  }

  // Enter (or Ctrl+Enter) in a field of the restriction form asks to confirm the removal (its
  // first button) instead of removing at once; Ctrl+Enter in another form's field (the notes,
  // the escalation's and the send-back's reasons) submits that form.
  function enterInField(event) {
    var field = event.target;
    var form = field && field.form;
    if (!form || event.key !== "Enter" || event.isComposing) return false;
    if (form.id === "restrict-form") {
      if (field.tagName === "TEXTAREA" && !event.ctrlKey && !event.metaKey) return false;
      if (field.tagName === "SELECT") return false;
      field.blur();
      askToConfirm("#remove-btn");
      return true;
    }
    if ((event.ctrlKey || event.metaKey) && isField(field) && form.id !== "bulk-form") {
      field.blur();
      form.requestSubmit();
      return true;
    }
    return false;
  }

  // The undo of the decision just taken: offered for the seconds the server says are left.
  function countDownUndo() {
    var notice = document.getElementById("undo-notice");
    if (!notice) return;
    var left = Number(notice.dataset.secondsLeft || "0");
    var label = document.getElementById("undo-left");
    var end = Date.now() + left * 1000;
    function tick() {
      var now = document.getElementById("undo-notice");
      if (now !== notice) return; // the page changed
      var seconds = Math.ceil((end - Date.now()) / 1000);
      if (seconds <= 0) {
        var button = document.getElementById("undo-btn");
        if (button) button.remove();
        if (label) label.textContent = "";
        notice.classList.add("expired");
        return;
      }
      if (label) label.textContent = seconds + " s";
      window.setTimeout(tick, 250);
    }
    tick();
  }

  // The policy a restriction cites: number keys 1..9 choose one of the page's first picker
  // (data-policy-keys), or on the queue the bulk removal's; choosing one fills its form's
  // explanation with the policy's text, unless the moderator wrote their own there.
  function choosePolicy(key) {
    if (!/^[1-9]$/.test(key)) return false;
    var picker = document.querySelector("fieldset[data-policy-keys]");
    var bulk = document.getElementById("bulk-policy");
    if (!picker && bulk) {
      if (Number(key) >= bulk.options.length) return false;
      bulk.selectedIndex = Number(key); // the first option is "no policy"
      return true;
    }
    if (!picker) return false;
    var radio = picker.querySelectorAll("input[type=radio][name=policy]")[Number(key) - 1];
    if (!radio || radio.disabled) return false;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function fillExplanation(radio) {
    var form = radio.form;
    var box = form && form.querySelector("textarea[data-explanation-for=policy]");
    if (!box) return;
    var filled = box.dataset.filled;
    if (box.value.trim() === "" || (filled !== undefined && box.value === filled)) {
      box.value = radio.dataset.explanation || "";
      box.dataset.filled = box.value;
    }
  }

  document.addEventListener("keydown", function (event) {
    if (loading > 0 && Date.now() - loadingSince < LOADING_AT_MOST) {
      // the page these keys were meant for is being replaced: they would act on the old one
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    if (event.key === "Enter" && typing(event) && enterInField(event)) {
      event.preventDefault();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey &&
        (event.key === "z" || event.key === "Z") && !typing(event)) {
      // Ctrl+Z outside a field: undo the decision just taken, while its notice offers it
      if (click("#undo-btn")) event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.key === "Escape") {
      toggleHelp(false);
      if (pending) cancelPrompt();
      if (typing(event)) document.activeElement.blur();
      return;
    }
    if (typing(event)) { if (pending) cancelPrompt(); return; }
    if (pending) {
      if (event.key !== "Shift") { promptKey(event.key); event.preventDefault(); }
      return;
    }
    if (event.key === "?") { toggleHelp(); event.preventDefault(); return; }
    var handled = false;
    if (choosePolicy(event.key)) handled = true;
    else if (document.getElementById("queue-rows")) handled = queueKey(event.key);
    else if (document.querySelector(".report-grid")) handled = reportKey(event.key);
    else if (document.getElementById("note-body") && event.key === "n") handled = focus("#note-body");
    if (handled) event.preventDefault();
  }, true);

  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t && t.name === "message_id") updateSelection();
    else if (t && t.name === "policy" && t.type === "radio" && t.checked) fillExplanation(t);
  });

  document.addEventListener("click", function (event) {
    var t = event.target;
    if (t && t.closest && t.closest("[data-keys-help]")) toggleHelp();
    else if (t && t.id === "keys-help") toggleHelp(false);
  });

  function pageHeading() {
    var heading = document.querySelector("main h1") || document.querySelector("main");
    if (heading && !heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    return heading;
  }

  function replacesPage(target) {
    return target === document.body || (target && target.id === "queue-rows");
  }

  // The badges' refresh (their poll, or a change the queue's event stream announced) swaps no
  // page: keys must not wait for it.
  function counted(event) {
    var elt = event.detail && event.detail.elt;
    var target = event.detail && event.detail.target;
    if (target && target.id === "nav-counts") return false;
    if (isRowsRefresh(event)) return false;
    return !(elt && elt.closest && elt.closest("#nav-counts"));
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!counted(event)) return;
    loading++;
    loadingSince = Date.now();
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (counted(event)) loading = Math.max(0, loading - 1);
  });

  // htmx puts focus back into an element of the new content with the id of the focused one:
  // leave any field that is about to be replaced, so that nothing is refocused.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    var target = event.detail && event.detail.target;
    if (active && active !== document.body && target && target.contains(active)) active.blur();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!replacesPage(target)) return;
    current = null; // the highlighted row belonged to the page that is gone: start from the top
    cancelPrompt();
    updateSelection();
    countDownUndo();
    if (target === document.body || !document.activeElement || document.activeElement === document.body) {
      var heading = pageHeading();
      if (heading) heading.focus({ preventScroll: true });
    }
  });

  // The queue's rows follow the queue (/mod/events through htmx's SSE extension, which also
  // refreshes the top bar's counts): fetched again at once when the moderator is in the middle of
  // nothing on this page (no row picked or selected, no field in use, no request on its way);
  // otherwise a notice offers the new rows, so that nothing moves under a decision being made.
  // A refresh the stream started (the moderator did not ask for it) is marked by a header: it
  // holds no key back, and its rows replace the page's only if the moderator is still in the
  // middle of nothing when they arrive (a row picked or selected meanwhile stays as it is, and
  // the notice offers the new rows instead).
  var rowsChanged = null;
  var ROWS_REFRESH = "X-Queue-Refresh";
  function isRowsRefresh(event) {
    var config = event.detail && event.detail.requestConfig;
    return !!(config && config.headers && config.headers[ROWS_REFRESH]);
  }
  function inHand() {
    return !!current || selectedBoxes().length > 0 || isField(document.activeElement);
  }
  function offerNewRows() {
    var notice = document.getElementById("queue-changed");
    if (notice) notice.hidden = false;
    return !!notice;
  }
  function showNewRows(byStream) {
    var notice = document.getElementById("queue-changed");
    if (notice) notice.hidden = true;
    var headers = {};
    if (byStream) headers[ROWS_REFRESH] = "1";
    htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#queue-rows", swap: "innerHTML", headers: headers });
  }
  document.addEventListener("sse:queue.changed", function () {
    if (!document.getElementById("queue-rows")) return;
    clearTimeout(rowsChanged);
    rowsChanged = setTimeout(function () {
      if (!(inHand() || loading > 0) || !offerNewRows()) showNewRows(true);
    }, 300); // one fetch for a burst of changes
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (isRowsRefresh(event) && inHand() && offerNewRows()) event.detail.shouldSwap = false;
  });
  document.addEventListener("click", function (event) {
    if (event.target && event.target.closest && event.target.closest("#queue-changed button")) showNewRows(false);
  });

  // A browser restores what was typed into fields when it shows a page again (back, reload,
  // the back/forward cache): put every form back to what the server rendered for this item.
  function resetForms() {
    Array.prototype.forEach.call(document.forms, function (form) { form.reset(); });
    document.querySelectorAll("textarea[data-explanation-for]").forEach(function (box) {
      var chosen = box.form && box.form.querySelector("input[name=policy]:checked");
      if (chosen && box.value === chosen.dataset.explanation) box.dataset.filled = box.value;
      else delete box.dataset.filled;
    });
    updateSelection();
  }

  document.addEventListener("DOMContentLoaded", function () {
    resetForms();
    pageHeading();
    countDownUndo();
    // "n" on the queue opens a report at its note field; only that once, not on a later reload
    if (window.location.hash === "#note-body") {
      history.replaceState(history.state, "", window.location.pathname + window.location.search);
      focus("#note-body");
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { loading = 0; current = null; resetForms(); }
  });
})();
