// The header's bell (templates/notices/_bell.html). Its count re-reads itself through its own view
// when the live socket says this user's notifications changed, when a mark-read on this page says
// so, and after a reconnect or when told to re-read everything (pushes sent while disconnected are
// lost; a page whose first socket opened late is told what it missed). While the socket is down it
// polls instead. Re-reads carry X-Portal-Background (static/js/live.js): they are not the user's
// activity, and do not keep an idle session alive.
(function () {
  "use strict";

  const POLL_MS = 30000;
  const count = document.getElementById("notice-count");
  if (!count) return;

  function refresh() {
    count.dispatchEvent(new CustomEvent("portal:refresh"));
  }

  document.body.addEventListener("notices-changed", refresh);
  document.body.addEventListener("gate-changed", function (event) {
    if (event.detail && (event.detail.reconnected || event.detail.catch_up)) refresh();
  });
  window.setInterval(function () {
    const status = document.getElementById("live-status");
    if (!status || status.dataset.state !== "live") refresh();
  }, POLL_MS);
})();
