// Live updates. A WebSocket at /ws/gates/ says which gate changed (id, status, role, version);
// each message becomes a "gate-changed" event on <body>, and the parts of a page that show gates
// re-read themselves through their normal views: this script sends them a "portal:refresh"
// event when they should (hx-trigger="portal:refresh"), so no trigger filter needs eval and the
// page runs under a strict Content-Security-Policy. Such refreshes carry X-Portal-Background:
// they are not the user's activity, and do not keep an idle session alive.
// Pushes are hints and may be lost while disconnected, so after a reconnect every part re-reads
// (and the first socket is told what changed between the page's rendering and its opening),
// and while the socket is down the inbox's table re-reads every 20 s; while it is live, once a
// minute all the same (a push lost on a live socket, an SLA badge the clock changed); never while
// gates are selected in it, but once they are cleared, if a re-read was held back meanwhile. A burst of pushes re-reads the table once per COALESCE_MS (leading and trailing
// edge), and each re-read sends the version its table carries (If-None-Match): the portal answers
// "204 No Content", which htmx leaves alone, when nothing the table shows has changed. A re-read
// asked for while the same part's read is under way is made once that read is done (htmx would
// queue it, then drop it when the answer replaces the part, read perhaps before the change). A
// reviewer sending or filling in a form of a part gives up that part's re-read under way, and
// ticking a gate gives up the table's: the answer would replace what they are working on.
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
  let tableAfterRead = false; // a re-read asked for while the table's last read was under way
  let tableReadInBackground = false; // the table's read under way is one this script asked for
  const panelsAfterRead = new Map(); // gate id -> the newest push that came while its panel was busy
  const readsAskedBy = new WeakMap(); // a panel -> the push its re-read under way was asked for by

  function announce(detail) {
    document.body.dispatchEvent(new CustomEvent("gate-changed", { detail: detail }));
    refreshGateTable();
    document.querySelectorAll("[data-live-gate]").forEach(function (el) {
      if (shouldRefresh(el, detail)) rereadPanel(el, detail);
    });
  }

  function rereadPanel(el, detail) {
    readsAskedBy.set(el, detail);
    el.dispatchEvent(new CustomEvent(REFRESH));
  }

  // A push for a panel whose own re-read is under way: the newest is judged again once the panel is
  // free. Such a push is never newer than what the reviewer's next request reads, so it cannot
  // replace that request's answer (an outcome, a refusal with the reviewer's words).
  function holdForPanel(detail) {
    const held = panelsAfterRead.get(detail.gate_id);
    if (!held || !(Number(held.version) >= Number(detail.version))) panelsAfterRead.set(detail.gate_id, detail);
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
    // A read already under way may have read before this change: htmx would queue this one and
    // then drop it when that read's answer replaces the table, so it is asked for again after.
    if (table.classList.contains("htmx-request")) {
      tableAfterRead = true;
      return;
    }
    lastTableRead = Date.now();
    table.dispatchEvent(new CustomEvent(REFRESH));
  }

  // A read of the table or of a gate's panel finished (its answer swapped in, or a 204): what was
  // asked for while it was under way is read now.
  function afterRead() {
    const tableIdle = !document.querySelector("#gate-table.htmx-request");
    if (tableAfterRead && tableIdle) {
      tableAfterRead = false;
      refreshGateTable();
    }
    // Held back for a selection that a read has since cleared (the one after a bulk decision).
    if (heldBack && tableIdle && !document.querySelector(".bulk-select:checked")) refreshGateTable();
    panelsAfterRead.forEach(function (detail, gateId) {
      const el = document.querySelector('[data-live-gate][data-gate-id="' + CSS.escape(gateId) + '"]');
      if (!el || el.classList.contains("htmx-request") || el.querySelector(".htmx-request")) return;
      panelsAfterRead.delete(gateId);
      // Its answer (a new panel: swapped whole) may have read the change already, or be the
      // reviewer's own decision: the same rule as for a push decides.
      if (shouldRefresh(el, detail)) rereadPanel(el, detail);
    });
  }
  document.body.addEventListener("htmx:afterSettle", afterRead);
  document.body.addEventListener("htmx:afterRequest", afterRead);

  // The reviewer acts in a panel while a push's re-read of it is under way: sends one of its forms
  // (claim, decide, ...) or starts filling one in. The re-read is given up: its answer, read before,
  // would replace the panel under the reviewer, and with it their words, or the panel their own
  // request's answer lands in (they would see the form again). The push that asked for it is held
  // and judged once the reviewer's request is done, in case that request fails. At beforeSend the
  // reviewer's form already shows as under way, so the held push waits for its answer.
  function giveUpPanelRead(elt) {
    const panel = elt instanceof Element && elt.parentElement ? elt.parentElement.closest("[data-live-gate]") : null;
    if (!panel || !panel.classList.contains("htmx-request")) return;
    const asked = readsAskedBy.get(panel);
    if (asked && asked.gate_id) holdForPanel(asked);
    htmx.trigger(panel, "htmx:abort");
  }
  document.body.addEventListener("htmx:beforeSend", function (event) {
    giveUpPanelRead(event.detail.elt);
  });
  document.body.addEventListener("input", function (event) {
    giveUpPanelRead(event.target);
  });

  // A gate selected while the table's re-read is under way: the read is given up (its answer would
  // replace the table and drop the selection) and held back like one asked for meanwhile. The last
  // selected gate cleared: the re-read held back while it was selected happens now.
  document.body.addEventListener("change", function (event) {
    const box = event.target;
    if (!(box instanceof Element) || !box.matches(".bulk-select")) return;
    const table = document.getElementById("gate-table");
    // Not the read after a bulk decision: that one clears the decided gates and their ticks.
    if (box.checked && table && table.classList.contains("htmx-request") && tableReadInBackground) {
      htmx.trigger(table, "htmx:abort");
      heldBack = true;
      return;
    }
    if (heldBack && !document.querySelector(".bulk-select:checked")) refreshGateTable();
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
    // The first socket says when the page was rendered: its first messages are the changes the
    // page missed before it opened. A later one re-reads everything when it opens instead.
    const stamp = !everOpened && badge ? badge.dataset.since : "";
    const since = stamp ? "?since=" + encodeURIComponent(stamp) : "";
    socket = new WebSocket(scheme + window.location.host + URL_PATH + since);
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
  // (their own request answers with the fresh state, and its outcome), or it shows the outcome of
  // their own decision or gives their words back with a question or a refusal.
  function shouldRefresh(el, detail) {
    if (detail && detail.gate_id) {
      if (detail.gate_id !== el.dataset.gateId) return false;
      if (Number(detail.version) <= Number(el.dataset.version)) return false;
      // The reviewer's own decision was recorded here: the push that the gate closed (however late
      // the projection catches up) would only replace its outcome with the same state.
      if ("decidedHere" in el.dataset && detail.status && detail.status !== "pending") return false;
      // The panel gives the reviewer's words back with a question or a refusal (an open confirm
      // step, a form the portal refused): it stays while the gate waits in the same queue (a
      // colleague's note), since a form the portal filled in looks unedited here. A push that
      // closes or moves the gate replaces it. The run has the last word on what is then sent.
      if ("answered" in el.dataset && detail.status === "pending" && detail.role === el.dataset.role) return false;
    } else if ("decidedHere" in el.dataset || "answered" in el.dataset) {
      // A reconnect says nothing of what changed: the reviewer's own outcome and their words with
      // an open question stay (what a confirmation sends is checked against the gate as it is).
      return false;
    }
    // The reviewer's own request (a form in the panel) answers with the fresh state.
    if (el.querySelector(".htmx-request")) return false;
    // The panel's own background read may have read before this change: judged again after it.
    if (el.classList.contains("htmx-request")) {
      if (detail && detail.gate_id) holdForPanel(detail);
      return false;
    }
    return !hasEdits(el);
  }

  document.body.addEventListener("htmx:configRequest", function (event) {
    const trigger = event.detail.triggeringEvent;
    const background = Boolean(trigger && trigger.type === REFRESH);
    if (event.detail.elt && event.detail.elt.id === "gate-table") tableReadInBackground = background;
    if (!background) return;
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
