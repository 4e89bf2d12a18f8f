// Passkeys: the browser's half of the WebAuthn ceremonies. The server sends the options as JSON
// (binary values in base64url), this file turns them into ArrayBuffers for
// navigator.credentials.create/get and posts the answer back as JSON. The challenge never leaves
// the server's session except in these options.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function toBuffer(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toBase64url(buf) {
    if (!buf) return null;
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? "{}" : JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) throw new Error(data.error || "The server refused the request. Reload the page and try again.");
        return data;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: toBuffer(c.id) };
      if (c.transports) d.transports = c.transports;
      return d;
    });
  }

  function register(box) {
    var nameInput = document.getElementById("f-passkey-name");
    return post(box.getAttribute("data-passkey-register")).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = toBuffer(pk.challenge);
      pk.user.id = toBuffer(pk.user.id);
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
      return navigator.credentials.create({ publicKey: pk });
    }).then(function (cred) {
      var r = cred.response;
      return post(box.getAttribute("data-passkey-finish"), {
        name: nameInput ? nameInput.value : "",
        credential: {
          id: cred.id,
          rawId: toBase64url(cred.rawId),
          type: cred.type,
          authenticatorAttachment: cred.authenticatorAttachment || undefined,
          clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
          response: {
            clientDataJSON: toBase64url(r.clientDataJSON),
            attestationObject: toBase64url(r.attestationObject),
            transports: r.getTransports ? r.getTransports() : []
          }
        }
      });
    });
  }

  // login answers a log-in ceremony: a passkey alone on the log-in page (data-passkey-login is
  // the options URL), or the second step after the password (the options name the person's own
  // passkeys), or step-up (confirming it's you before a dangerous action).
  function login(box, optionsURL) {
    return post(optionsURL || box.getAttribute("data-passkey-login")).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = toBuffer(pk.challenge);
      pk.allowCredentials = descriptors(pk.allowCredentials);
      return navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      var r = cred.response;
      return post(box.getAttribute("data-passkey-finish"), {
        next: box.getAttribute("data-passkey-next") || "",
        credential: {
          id: cred.id,
          rawId: toBase64url(cred.rawId),
          type: cred.type,
          authenticatorAttachment: cred.authenticatorAttachment || undefined,
          clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
          response: {
            clientDataJSON: toBase64url(r.clientDataJSON),
            authenticatorData: toBase64url(r.authenticatorData),
            signature: toBase64url(r.signature),
            userHandle: toBase64url(r.userHandle)
          }
        }
      });
    });
  }

  // stepUp confirms the signed-in person with a passkey, then posts the step-up form it sits in:
  // the server now counts the session as recently confirmed and lets the action through.
  function stepUp(box) {
    return login(box, box.getAttribute("data-passkey-stepup")).then(function () {
      var form = box.closest("form");
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
      return null;
    });
  }

  function wire(box, run) {
    var btn = box.querySelector("[data-passkey-action]");
    var status = box.querySelector("[data-passkey-status]");
    var nojs = box.querySelector("[data-passkey-nojs]");
    // The script runs again when htmx brings a step-up form into the page: wire each box once.
    if (!btn || box.hasAttribute("data-passkey-wired")) return;
    box.setAttribute("data-passkey-wired", "");
    if (nojs) nojs.hidden = true;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      btn.disabled = true;
      if (status) status.textContent = "";
      run(box).then(function (data) {
        if (data) window.location.assign(data.redirect || "/");
      }).catch(function (err) {
        btn.disabled = false;
        if (!status) return;
        // The person closed the browser's dialog or it timed out: not an error worth a red line.
        if (err && err.name === "NotAllowedError") {
          status.textContent = "No passkey was used. Try again when you are ready.";
        } else if (err && err.name === "InvalidStateError") {
          status.textContent = "This device's passkey is registered already.";
        } else {
          status.textContent = (err && err.message) || "The passkey did not work. Try again.";
        }
      });
    });
  }

  document.querySelectorAll("[data-passkey-register]").forEach(function (box) { wire(box, register); });
  document.querySelectorAll("[data-passkey-login]").forEach(function (box) { wire(box, function (b) { return login(b); }); });
  document.querySelectorAll("[data-passkey-stepup]").forEach(function (box) { wire(box, stepUp); });
})();
