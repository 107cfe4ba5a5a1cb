// Keyboard triage for the moderation dashboard. Served as a file (the CSP allows no inline
// script). Every key only clicks, focuses or submits what is already on the page, so everything
// here also works by mouse and, without script, by plain forms.
(function () {
  "use strict";

  var current = null; // message id of the highlighted queue row

  function typing(event) {
    var t = event.target;
    if (!t) return false;
    if (t.tagName === "INPUT") return !/^(checkbox|radio|button|submit|reset)$/.test(t.type);
    return t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT";
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
      case "e": return click("#escalate-btn");
      case "r": return focus("#remove-reason");
      case "n": return focus("#note-body");
      case "u": return click("#sender-link");
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      toggleHelp(false);
      if (typing(event)) event.target.blur();
      return;
    }
    if (typing(event)) return;
    if (event.key === "?") { toggleHelp(); event.preventDefault(); return; }
    var handled = false;
    if (document.getElementById("queue-rows")) handled = queueKey(event.key);
    else if (document.querySelector(".report-grid")) handled = reportKey(event.key);
    else if (document.getElementById("note-body") && event.key === "n") handled = focus("#note-body");
    if (handled) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "message_id") updateSelection();
  });

  document.addEventListener("click", function (event) {
    var t = event.target;
    if (t && t.closest && t.closest("[data-keys-help]")) toggleHelp();
    else if (t && t.id === "keys-help") toggleHelp(false);
  });

  // After htmx swaps a page or the rows in, the highlighted row is gone: start from the top.
  function reset() {
    if (!currentRow()) current = null;
    updateSelection();
    if (window.location.hash === "#note-body") focus("#note-body");
  }
  document.addEventListener("htmx:afterSettle", reset);
  document.addEventListener("DOMContentLoaded", reset);
})();
