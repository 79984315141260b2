// Gatehouse's only script: the WebAuthn ceremonies of the forms marked
// data-webauthn="create" or "get". The server puts the options in the
// form's data-options (JSON, binary fields in base64url); this script
// calls navigator.credentials, writes the browser's answer (JSON, binary
// fields in base64url) into the form's "credential" field and submits the
// form. It sends nothing itself, and reads nothing but the form.
(function () {
  'use strict';

  function fromB64url(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) { s += '='; }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return { publicKey: pk };
  }

  function answer(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  function setUp(form) {
    var button = form.querySelector('[data-webauthn-start]');
    var status = form.querySelector('[data-webauthn-status]');
    var field = form.querySelector('input[name=credential]');
    if (!button || !field) { return; }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      if (status) { status.textContent = form.getAttribute('data-unsupported') || ''; }
      return;
    }
    button.disabled = false;
    button.addEventListener('click', function () {
      var options;
      try {
        options = JSON.parse(form.getAttribute('data-options'));
      } catch (e) {
        return;
      }
      button.disabled = true;
      if (status) { status.textContent = form.getAttribute('data-waiting') || ''; }
      var ceremony = form.getAttribute('data-webauthn') === 'create' ?
        navigator.credentials.create(creationOptions(options)) :
        navigator.credentials.get(requestOptions(options));
      ceremony.then(function (cred) {
        field.value = answer(cred);
        form.submit();
      }, function () {
        button.disabled = false;
        if (status) { status.textContent = form.getAttribute('data-failed') || ''; }
      });
    });
  }

  document.querySelectorAll('form[data-webauthn]').forEach(setUp);
})();
