// Live updates. A WebSocket at /ws/gates/ says which gate changed (id, status, role, version);
// each message becomes a "gate-changed" event on <body>, and the parts of a page that show gates
// re-read themselves through their normal views: this script sends them a "portal:refresh"
// event when they should (hx-trigger="portal:refresh"), so no trigger filter needs eval and the
// page runs under a strict Content-Security-Policy. Such refreshes carry X-Portal-Background:
// they are not the user's activity, and do not keep an idle session alive.
// Pushes are hints and may be lost while disconnected, so after a reconnect every part re-reads,
// and while the socket is down the inbox's table re-reads every 20 s; while it is live, once a
// minute all the same (a push lost on a live socket, an SLA badge the clock changed); never while
// gates are selected in it, but once they are cleared, if a re-read was held back meanwhile. A burst of pushes re-reads the table once per COALESCE_MS (leading and trailing
// edge), and each re-read sends the version its table carries (If-None-Match): the portal answers
// "204 No Content", which htmx leaves alone, when nothing the table shows has changed.
(function () {
  "use strict";

  const URL_PATH = "/ws/gates/";
  const POLL_MS = 20000;
  const LIVE_POLL_MS = 60000;
  const COALESCE_MS = 2000;
  const REFRESH = "portal:refresh";
  const FIRST_DELAY_MS = 1000;
  const MAX_DELAY_MS = 30000;
  const badge = document.getElementById("live-status");
  let delay = FIRST_DELAY_MS;
  let everOpened = false;
  let socket = null;
  let retry = null;
  let stopped = false;
  let lastTableRefresh = -Infinity;
  let lastTableRead = Date.now(); // the page itself is the first read
  let heldBack = false; // a re-read skipped while gates were selected
  let tableRefreshDue = null;

  function announce(detail) {
    document.body.dispatchEvent(new CustomEvent("gate-changed", { detail: detail }));
    refreshGateTable();
    document.querySelectorAll("[data-live-gate]").forEach(function (el) {
      if (shouldRefresh(el, detail)) el.dispatchEvent(new CustomEvent(REFRESH));
    });
  }

  // The inbox's table, unless the reviewer has selected gates in it (a refresh would drop them),
  // at most once per COALESCE_MS: the pushes that arrive meanwhile share the one re-read after it.
  function refreshGateTable() {
    if (tableRefreshDue) return;
    const wait = lastTableRefresh + COALESCE_MS - Date.now();
    if (wait <= 0) {
      refreshGateTableNow();
      return;
    }
    tableRefreshDue = window.setTimeout(function () {
      tableRefreshDue = null;
      refreshGateTableNow();
    }, wait);
  }

  function refreshGateTableNow() {
    lastTableRefresh = Date.now();
    const table = document.getElementById("gate-table");
    if (!table) return;
    heldBack = document.querySelector(".bulk-select:checked") !== null;
    if (heldBack) return;
    lastTableRead = Date.now();
    table.dispatchEvent(new CustomEvent(REFRESH));
  }

  // The last selected gate cleared: the re-read held back while it was selected happens now.
  document.body.addEventListener("change", function (event) {
    const box = event.target;
    if (!heldBack || !(box instanceof Element) || !box.matches(".bulk-select")) return;
    if (!document.querySelector(".bulk-select:checked")) refreshGateTable();
  });

  function live() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function show(live) {
    if (!badge) return;
    badge.textContent = live ? "Live" : "Reconnecting…";
    badge.dataset.state = live ? "live" : "reconnecting";
  }

  function connect() {
    retry = null;
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + URL_PATH);
    socket.addEventListener("open", function () {
      delay = FIRST_DELAY_MS;
      show(true);
      if (everOpened) announce({ reconnected: true });
      everOpened = true;
    });
    socket.addEventListener("message", function (message) {
      let detail;
      try {
        detail = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      // This user's notifications changed (no gate did): only the bell re-reads (static/js/notices.js).
      if (detail && detail.notices) {
        document.body.dispatchEvent(new CustomEvent("notices-changed"));
        return;
      }
      announce(detail);
    });
    socket.addEventListener("close", function () {
      socket = null;
      if (stopped) return;
      show(false);
      // Jittered, doubling backoff: a restarted portal is not hit by every browser at once.
      retry = window.setTimeout(connect, delay * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    });
  }

  function hasEdits(el) {
    return Array.from(el.querySelectorAll("input, textarea, select")).some(function (field) {
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") {
        return Array.from(field.options).some(function (o) { return o.selected !== o.defaultSelected; });
      }
      return field.value !== field.defaultValue;
    });
  }

  // A part of a page that shows one gate (data-gate-id, data-version) re-reads on a reconnect or
  // on a newer version of its gate, unless the reviewer has started filling in its form or sent it
  // (their own request answers with the fresh state, and its outcome).
  function shouldRefresh(el, detail) {
    if (detail && detail.gate_id) {
      if (detail.gate_id !== el.dataset.gateId) return false;
      if (Number(detail.version) <= Number(el.dataset.version)) return false;
      // The reviewer's own decision was recorded here: the push that the gate closed (however late
      // the projection catches up) would only replace its outcome with the same state.
      if ("decidedHere" in el.dataset && detail.status && detail.status !== "pending") return false;
      // An open confirm step stays while the gate waits in the same queue (a colleague's note):
      // a refresh would throw away the question the reviewer is answering. The run still has
      // the last word on the confirmation itself.
      const confirming = el.querySelector(".confirm-decision");
      if (confirming && detail.status === "pending" && detail.role === el.dataset.role) return false;
    }
    if (el.classList.contains("htmx-request") || el.querySelector(".htmx-request")) return false;
    return !hasEdits(el);
  }

  document.body.addEventListener("htmx:configRequest", function (event) {
    const trigger = event.detail.triggeringEvent;
    if (!trigger || trigger.type !== REFRESH) return;
    event.detail.headers["X-Portal-Background"] = "1";
    const version = event.detail.elt && event.detail.elt.dataset.inboxVersion;
    if (version) event.detail.headers["If-None-Match"] = version;
  });
  // The poll stands in for the pushes while the socket is down; while it is live, a re-read a
  // minute (a 204 when nothing changed) makes up for a lost push and for the clock's changes.
  window.setInterval(function () {
    if (!live() || Date.now() - lastTableRead >= LIVE_POLL_MS) refreshGateTable();
  }, POLL_MS);

  // Leaving the page closes the socket without a reconnect; coming back from the
  // back/forward cache opens a new one and re-reads.
  window.addEventListener("pagehide", function () {
    stopped = true;
    if (retry) window.clearTimeout(retry);
    retry = null;
    if (socket) socket.close();
  });
  window.addEventListener("pageshow", function (event) {
    stopped = false;
    if (event.persisted && !socket && !retry) connect();
  });

  connect();
})();
