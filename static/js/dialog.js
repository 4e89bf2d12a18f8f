// The page's one dialog (views/components/dialog.templ). A link with data-dialog leads to a page
// of its own (a confirmation, a role choice, a form) that works without JavaScript; with it, the
// same page's panel opens in a native modal <dialog> instead: top layer, focus moved in and given
// back on close, Escape and the backdrop close it, one open at a time.
(function () {
  "use strict";
  var opener = null, openerId = "", openerHref = "";

  function findByHref(href) {
    if (!href) return null;
    var links = document.querySelectorAll("a[data-dialog]");
    for (var i = 0; i < links.length; i++) {
      if (links[i].getAttribute("href") === href) return links[i];
    }
    return null;
  }

  function dialog() { return document.getElementById("page-dialog"); }
  function body(d) { return d.querySelector("[data-dialog-body]"); }

  function focusFirst(d) {
    var el = d.querySelector("[autofocus]") ||
      body(d).querySelector("input:not([type=hidden]):not([disabled]), select, textarea, button:not([disabled])");
    (el || d).focus();
  }

  var asked = 0;
  function open(link) {
    var d = dialog(), mine = ++asked;
    fetch(link.href, { headers: { "HX-Request": "true", "HX-Target": "page-dialog" }, credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok || res.redirected) throw new Error(String(res.status));
        return res.text();
      })
      .then(function (html) {
        if (mine !== asked) return; // a later click asked for another panel
        opener = link;
        openerId = link.id || "";
        openerHref = link.getAttribute ? link.getAttribute("href") || "" : "";
        body(d).innerHTML = html;
        if (window.htmx) window.htmx.process(body(d));
        if (!d.open) d.showModal();
        focusFirst(d);
      })
      .catch(function () { window.location.href = link.href; });
  }

  function showError(d, msg) {
    var old = body(d).querySelector("[data-dialog-error]");
    if (old) old.remove();
    var box = document.createElement("p");
    box.setAttribute("data-dialog-error", "");
    box.setAttribute("role", "alert");
    box.setAttribute("data-testid", "dialog-error");
    box.className = "mb-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800";
    box.textContent = msg || "The request failed.";
    body(d).prepend(box);
  }

  document.addEventListener("click", function (ev) {
    var d = dialog();
    if (!d || typeof d.showModal !== "function") return;
    var link = ev.target.closest && ev.target.closest("a[data-dialog]");
    if (link && ev.button === 0 && !ev.metaKey && !ev.ctrlKey && !ev.shiftKey && !ev.altKey) {
      ev.preventDefault();
      open(link);
      return;
    }
    if (ev.target.closest && ev.target.closest("[data-dialog-close]") && d.open) {
      d.close();
      return;
    }
    // A click on the backdrop lands on the dialog element itself, outside its content box.
    if (ev.target === d && d.open) {
      var r = d.getBoundingClientRect();
      if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) d.close();
    }
  });

  document.addEventListener("close", function (ev) {
    var d = dialog();
    if (ev.target !== d || d.open) return; // a close event that arrives after it opened again
    body(d).replaceChildren();
    // The opener may have been re-rendered with its row: find it again by its id, or by its
    // href, which names the row and the action (row actions carry no id of their own).
    var back = opener && opener.isConnected ? opener : (openerId && document.getElementById(openerId)) || findByHref(openerHref);
    if (back) back.focus();
    opener = null;
    openerId = "";
    openerHref = "";
  }, true);

  // A form with data-dialog-form (method GET, its action the page that asks) opens that page's
  // panel in the dialog with the form's fields, once they are valid: a typed confirmation is
  // checked first, at its field, and nothing is asked while it does not match. Without JavaScript
  // the form leads to the page that asks.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var d = dialog();
    if (!form.hasAttribute || !form.hasAttribute("data-dialog-form") || !d || typeof d.showModal !== "function") return;
    ev.preventDefault();
    form.querySelectorAll("[data-must-equal]").forEach(check);
    if (!form.reportValidity()) return;
    var btn = ev.submitter || form.querySelector("[type=submit]");
    var url = new URL(form.action, window.location.href);
    url.search = new URLSearchParams(new FormData(form)).toString();
    open({ href: url.toString(), id: btn ? btn.id : "" });
  }, true);

  function check(input) {
    var want = input.getAttribute("data-must-equal");
    input.setCustomValidity(input.value.trim() === want ? "" : "Type " + want + " to confirm.");
  }

  // A typed confirmation (<input data-must-equal="…">) keeps its form from being sent until it
  // matches; the server checks it again.
  document.addEventListener("input", function (ev) {
    var want = ev.target.getAttribute && ev.target.getAttribute("data-must-equal");
    if (want === null || want === undefined) return;
    check(ev.target);
  });

  // A refusal the server answers with X-Atrium-Swap (e.g. a member's row showing the real role
  // and why) is swapped in like a success, so it appears where the person acted.
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var xhr = ev.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-Atrium-Swap")) {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });
  // A form in the dialog that updated the page behind it closes the dialog; one that answered
  // inside the dialog (a form with its errors) keeps it open.
  document.addEventListener("htmx:afterSwap", function (ev) {
    var d = dialog();
    if (!d || !d.open) return;
    var tg = ev.detail.target;
    // An outerHTML swap leaves the old target detached: its replacement carries the same id.
    var now = tg.isConnected ? tg : tg.id && document.getElementById(tg.id);
    if (now && !d.contains(now)) {
      d.close();
    } else if (!d.contains(document.activeElement)) {
      // The panel was answered again (a form with its errors): focus goes to the first problem.
      var bad = d.querySelector("[aria-invalid=true]");
      if (bad) bad.focus(); else focusFirst(d);
    }
  });
  document.addEventListener("htmx:responseError", function (ev) {
    var d = dialog();
    if (d && d.open && d.contains(ev.detail.elt)) showError(d, ev.detail.xhr && ev.detail.xhr.responseText);
  });
})();
