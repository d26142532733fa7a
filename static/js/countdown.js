// Live SLA countdowns: every element with data-deadline ticks each second, turning "warning"
// under 25 % of its SLA left and "overdue" past the deadline. The server's time is the truth;
// this only redraws it.
(function () {
  function format(seconds) {
    const abs = Math.abs(seconds);
    const h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60), s = Math.floor(abs % 60);
    const text = (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
    return seconds < 0 ? "overdue by " + text : text;
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      const left = (Date.parse(el.dataset.deadline) - now) / 1000;
      const sla = Number(el.dataset.slaSeconds) || 1;
      el.textContent = format(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("warning", left >= 0 && left < sla * 0.25);
    });
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  setInterval(tick, 1000);
})();
