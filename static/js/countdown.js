// Live SLA countdowns: every element with data-deadline ticks each second, turning "warning"
// under 25 % of its SLA left and "overdue" past the deadline. The server's time is the truth;
// this only redraws it.
(function () {
  // "12m 5s" (with " left" where the element asks for it), or "overdue by 34s": never both.
  function format(seconds, leftWord) {
    const abs = Math.abs(seconds);
    const h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60), s = Math.floor(abs % 60);
    const text = (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
    if (seconds < 0) return "overdue by " + text;
    return leftWord ? text + " left" : text;
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      const left = (Date.parse(el.dataset.deadline) - now) / 1000;
      const sla = Number(el.dataset.slaSeconds) || 1;
      el.textContent = format(left, el.hasAttribute("data-left-word"));
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("warning", left >= 0 && left < sla * 0.25);
    });
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  setInterval(tick, 1000);
})();
