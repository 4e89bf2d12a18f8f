// Atrium's small script: progressive enhancement only; every page works without it.
(function () {
  "use strict";
  // An htmx request refused by the server (403, 404, 409, 500…) shows its message in the flash area.
  document.addEventListener("htmx:responseError", function (ev) {
    var flash = document.getElementById("flash");
    if (!flash) return;
    var box = document.createElement("div");
    box.className = "mb-4 rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800";
    box.setAttribute("role", "alert");
    box.setAttribute("data-testid", "flash");
    box.textContent = (ev.detail.xhr && ev.detail.xhr.responseText) || "The request failed.";
    flash.replaceChildren(box);
  });
  // Theme: light, dark or system (the default), kept in localStorage; theme.js applies it on load.
  function showTheme() {
    var choice = "system";
    try { choice = window.localStorage.getItem("theme") || "system"; } catch (e) { /* storage off */ }
    document.querySelectorAll("[data-theme-choice]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-theme-choice") === choice));
    });
  }
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-theme-choice]");
    if (!btn) return;
    var choice = btn.getAttribute("data-theme-choice"), root = document.documentElement;
    try {
      if (choice === "system") window.localStorage.removeItem("theme");
      else window.localStorage.setItem("theme", choice);
    } catch (e) { /* storage off: the choice lasts for this page only */ }
    root.classList.remove("dark", "light");
    if (choice !== "system") root.classList.add(choice);
    showTheme();
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showTheme);
  else showTheme();
  // Menus: <details data-menu> (the workspace switcher, the account menu). One is open at a time;
  // Escape closes it (focus back on its summary) and so does a click or a focus outside it.
  // Without JavaScript they open and close with their summary, as <details> does.
  function openMenus() { return document.querySelectorAll("details[data-menu][open]"); }
  function closeMenus(except) {
    openMenus().forEach(function (d) { if (d !== except && !d.contains(except)) d.open = false; });
  }
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (d.matches && d.matches("details[data-menu]") && d.open) closeMenus(d);
  }, true);
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    var open = openMenus();
    if (!open.length) return;
    var inner = open[open.length - 1];
    inner.open = false;
    var summary = inner.querySelector("summary");
    if (summary && inner.contains(document.activeElement)) summary.focus();
    ev.preventDefault();
  });
  function outside(ev) {
    var inMenu = ev.target.closest && ev.target.closest("details[data-menu]");
    closeMenus(inMenu);
  }
  document.addEventListener("click", outside);
  document.addEventListener("focusin", outside);
  // Copy buttons: <button data-copy="#id">.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var src = document.querySelector(btn.getAttribute("data-copy"));
    if (!src || !navigator.clipboard) return;
    navigator.clipboard.writeText(src.value || src.textContent).then(function () {
      btn.textContent = "Copied";
    });
  });
  // Confirmation in the page's own dialog: a submit button with data-dialog="#id" opens that
  // <dialog> instead of submitting, and gives the dialog's form (data-dialog-form) the button's
  // form's address and its data-name to show. Without JavaScript the button submits its own form
  // and the server answers a confirmation page.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest("button[data-dialog]");
    if (!btn || !btn.form) return;
    var dlg = document.querySelector(btn.getAttribute("data-dialog"));
    if (!dlg || typeof dlg.showModal !== "function") return;
    ev.preventDefault();
    var form = dlg.querySelector("form[data-dialog-form]");
    if (form) form.setAttribute("action", btn.form.getAttribute("action"));
    dlg.querySelectorAll("[data-dialog-name]").forEach(function (el) {
      el.textContent = btn.getAttribute("data-name") || "";
    });
    dlg.showModal();
  });
  // Confirmation in the page's own dialog: <form data-confirm-dialog="dialog-id">. The dialog's
  // [data-dialog-confirm] button submits the form, [data-dialog-cancel] closes the dialog.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var id = form.getAttribute && form.getAttribute("data-confirm-dialog");
    if (!id || form.dataset.confirmed === "yes") return;
    var dialog = document.getElementById(id);
    if (!dialog || typeof dialog.showModal !== "function") return;
    ev.preventDefault();
    dialog.showModal();
  }, true);
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-dialog-confirm], [data-dialog-cancel]");
    if (!btn) return;
    var dialog = btn.closest("dialog");
    if (!dialog) return;
    dialog.close();
    if (!btn.hasAttribute("data-dialog-confirm")) return;
    var form = document.querySelector('form[data-confirm-dialog="' + dialog.id + '"]');
    if (!form) return;
    form.dataset.confirmed = "yes";
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });
})();
