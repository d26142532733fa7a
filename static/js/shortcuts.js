// Keyboard shortcuts. On the inbox, j/k (or the arrow keys) move a highlight between the rows
// (<tr data-gate-url> with an <a class="gate-link">) and Enter opens one. Elsewhere a key presses
// the visible control that declares it in aria-keyshortcuts (a = Approve, r = Reject, c = Claim,
// n / p = next / previous gate). "?" opens the help dialog, Escape closes it. Nothing fires while
// the reviewer is typing in a field. Everything here is also reachable without a keyboard shortcut.
(function () {
  "use strict";

  let current = null;  // the data-gate-url of the highlighted inbox row
  let returnFocus = null;  // where focus goes back to when the help closes

  const NOT_TYPED = ["checkbox", "radio", "button", "submit", "reset"];

  function typing(el) {
    if (!(el instanceof HTMLElement)) return false;
    if (el.tagName === "INPUT") return !NOT_TYPED.includes(el.type);
    return el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT";
  }

  function visible(el) {
    return el.getClientRects().length > 0 && !el.disabled && !el.closest("[hidden], [inert]");
  }

  // --- the help dialog: modal, labelled, focus kept inside while it is open ----------------------

  function dialog() {
    return document.getElementById("shortcuts-help");
  }

  function focusables(root) {
    return Array.from(root.querySelectorAll("a[href], button, input, select, textarea, [tabindex]"))
      .filter((el) => el.tabIndex >= 0 && visible(el));
  }

  function openHelp() {
    const box = dialog();
    if (!box || !box.hidden) return;
    returnFocus = document.activeElement;
    box.hidden = false;
    document.body.classList.add("has-dialog");
    (box.querySelector("[data-shortcuts-close]") || box).focus();
  }

  function closeHelp() {
    const box = dialog();
    if (!box || box.hidden) return;
    box.hidden = true;
    document.body.classList.remove("has-dialog");
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
    returnFocus = null;
  }

  function trapFocus(event) {
    const items = focusables(dialog());
    if (!items.length) return;
    const first = items[0], last = items[items.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog().contains(document.activeElement))) {
      last.focus();
      event.preventDefault();
    } else if (!event.shiftKey && (document.activeElement === last || !dialog().contains(document.activeElement))) {
      first.focus();
      event.preventDefault();
    }
  }

  // --- inbox rows --------------------------------------------------------------------------------

  function rows() {
    return Array.from(document.querySelectorAll("tr[data-gate-url]"));
  }

  function highlight(row, focus) {
    rows().forEach((r) => r.classList.toggle("kbd-current", r === row));
    current = row.dataset.gateUrl;
    if (focus) {
      const link = row.querySelector("a.gate-link");
      (link || row).focus();
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function moveRow(step) {
    const all = rows();
    if (!all.length) return false;
    const at = all.findIndex((r) => r.contains(document.activeElement) || r.dataset.gateUrl === current);
    const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(at + step, 0), all.length - 1);
    highlight(all[next], true);
    return true;
  }

  function openRow() {
    const row = rows().find((r) => r.dataset.gateUrl === current);
    if (!row) return false;
    window.location.assign(row.dataset.gateUrl);
    return true;
  }

  // The inbox table is redrawn every few seconds: keep the highlight (and focus, if it was lost).
  document.addEventListener("htmx:afterSwap", function () {
    const row = rows().find((r) => r.dataset.gateUrl === current);
    if (row) highlight(row, document.activeElement === document.body);
  });

  // --- focus after an in-place update -----------------------------------------------------------
  // A claim or decision redraws the decision panel, and the button that had focus goes with it:
  // put keyboard focus on the panel's heading rather than back at the top of the page.
  let fromPanel = false;
  document.addEventListener("htmx:beforeRequest", function (event) {
    fromPanel = event.target.tagName === "FORM" && Boolean(event.target.closest("#decision-panel"));
  });
  document.addEventListener("htmx:afterSettle", function () {
    const heading = document.getElementById("decision-h");
    if (fromPanel && heading && document.activeElement === document.body) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    fromPanel = false;
  });

  // --- controls that declare their key -----------------------------------------------------------

  function control(key) {
    return Array.from(document.querySelectorAll("[aria-keyshortcuts]")).find(
      (el) => el.getAttribute("aria-keyshortcuts").split(" ").includes(key) && visible(el)
    );
  }

  // A rejection needs a reason (free text, or grounds other than "Other"): ask for it first.
  function reasonMissing(button) {
    const form = button.form;
    const reason = form && form.elements.namedItem("reason");
    const preset = form && form.elements.namedItem("preset");
    if (!reason || reason.value.trim()) return null;
    return !preset || !preset.value || preset.value === "Other" ? reason : null;
  }

  // A decision made with a key says so: the server then asks to confirm it, with a reason,
  // before anything is sent (reviewer_portal/inbox/confirmation.py). The marker goes with this
  // one submission only; the form's values are read while click() runs.
  function clickFromKeyboard(button) {
    const form = button.name === "decision" ? button.form : null;
    if (!form) {
      button.click();
      return;
    }
    const marker = document.createElement("input");
    marker.type = "hidden";
    marker.name = "keyboard";
    marker.value = "on";
    form.appendChild(marker);
    try {
      button.click();
    } finally {
      marker.remove();
    }
  }

  function press(key) {
    const el = control(key);
    if (!el) return false;
    const missing = el.value === "reject" ? reasonMissing(el) : null;
    if (missing) {
      missing.focus();
    } else {
      clickFromKeyboard(el);
    }
    return true;
  }

  // --- dispatch ----------------------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    const box = dialog();
    if (box && !box.hidden) {
      if (event.key === "Escape") {
        closeHelp();
        event.preventDefault();
      } else if (event.key === "Tab") {
        trapFocus(event);
      }
      return;
    }
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    let handled = false;
    switch (event.key) {
      case "?": openHelp(); handled = true; break;
      case "j": case "ArrowDown": handled = moveRow(1); break;
      case "k": case "ArrowUp": handled = moveRow(-1); break;
      case "Enter":
        // A focused link or button answers Enter itself; only a highlighted row needs help.
        if (document.activeElement === document.body) handled = openRow();
        break;
      default:
        if (event.key.length === 1 && !event.shiftKey) handled = press(event.key);
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-open]")) openHelp();
    else if (event.target.closest("[data-shortcuts-close]")) closeHelp();
    else if (event.target === dialog()) closeHelp();  // a click on the backdrop
  });
})();
