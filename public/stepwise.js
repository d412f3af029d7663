/*
 * Stepwise page behaviour (plain browser JS, no build). Loaded after /assets/simplewebauthn-browser.js,
 * which defines the global SimpleWebAuthnBrowser. All data comes from data-* attributes (CSP: script-src 'self').
 *
 * JSON contract with the server (requests are sent with Content-Type and Accept: application/json):
 *   [data-testid="webauthn-start"]     POST data-action   { csrf, response, remember_device } (authentication)
 *   [data-testid="webauthn-register"]  POST data-action   { csrf, response, name }  (registration)
 *   #passkey-signin                    POST data-options-url { csrf } → { optionsJSON }
 *                                      POST data-verify-url  { csrf, response }
 *   success: 2xx { redirect: url } → location.assign(url)
 *   failure: 4xx/5xx { error: code, message } → message shown in the page's error element
 */
(function () {
  'use strict';

  var GENERIC = 'Something went wrong. Try again.';

  function showError(el, message) {
    if (!el) return;
    el.textContent = message || GENERIC;
    el.hidden = false;
  }

  function hideError(el) {
    if (!el) return;
    el.textContent = '';
    el.hidden = true;
  }

  /** Messages for errors raised by the browser (the user cancelled, timed out, no matching key...). */
  function browserErrorMessage(err) {
    var name = err && err.name;
    if (name === 'NotAllowedError' || name === 'AbortError') {
      return 'The request was cancelled or timed out. Try again.';
    }
    if (name === 'InvalidStateError') {
      return 'This authenticator is already registered to your account.';
    }
    if (name === 'SecurityError') {
      return 'Passkeys cannot be used on this address.';
    }
    if (name === 'NotSupportedError') {
      return 'This browser or authenticator does not support passkeys.';
    }
    return (err && err.message) || GENERIC;
  }

  /** POST JSON; resolves with the parsed body on 2xx, rejects with { serverMessage } otherwise. */
  function postJson(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    }).then(function (res) {
      return res
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!res.ok) {
            var e = new Error((data && data.message) || GENERIC);
            e.serverMessage = (data && data.message) || GENERIC;
            e.code = data && data.error;
            throw e;
          }
          return data;
        });
    });
  }

  function finish(data, errorEl) {
    if (data && typeof data.redirect === 'string') {
      window.location.assign(data.redirect);
      return;
    }
    showError(errorEl, GENERIC);
  }

  // Ends a ceremony: follows the server's redirect, or shows why it failed; resolves to "succeeded?".
  function settle(data, errorEl, err) {
    if (err) {
      failure(err, errorEl);
      return false;
    }
    finish(data, errorEl);
    return Boolean(data && data.redirect);
  }

  function failure(err, errorEl) {
    showError(errorEl, err && err.serverMessage ? err.serverMessage : browserErrorMessage(err));
  }

  function parseOptions(button) {
    try {
      return JSON.parse(button.getAttribute('data-options') || 'null');
    } catch (e) {
      return null;
    }
  }

  function supported(errorEl) {
    var lib = window.SimpleWebAuthnBrowser;
    if (!lib || !lib.browserSupportsWebAuthn || !lib.browserSupportsWebAuthn()) {
      showError(errorEl, 'This browser does not support passkeys or security keys.');
      return null;
    }
    return lib;
  }

  /** Runs `task` with the button disabled; re-enables it afterwards unless we are navigating away. */
  function guarded(button, task) {
    var busy = false;
    button.addEventListener('click', function (ev) {
      ev.preventDefault();
      if (busy) return;
      busy = true;
      button.disabled = true;
      button.setAttribute('aria-busy', 'true');
      Promise.resolve()
        .then(task)
        .then(function (navigating) {
          if (!navigating) {
            busy = false;
            button.disabled = false;
          }
          button.removeAttribute('aria-busy');
        });
    });
  }

  // Common start of a ceremony whose options are rendered into the page: library present, options parse.
  function prepare(button, errorEl) {
    hideError(errorEl);
    var lib = supported(errorEl);
    var optionsJSON = parseOptions(button);
    if (!lib) return null;
    if (!optionsJSON) {
      showError(errorEl, GENERIC);
      return null;
    }
    return { lib: lib, optionsJSON: optionsJSON };
  }

  function errorElementFor() {
    return document.querySelector('[data-testid="webauthn-error"]');
  }

  // (a) second factor / step-up: authenticate with the options rendered into the page.
  function wireChallenge(button) {
    var errorEl = errorElementFor();
    guarded(button, function () {
      var ready = prepare(button, errorEl);
      if (!ready) return false;
      var lib = ready.lib;
      var optionsJSON = ready.optionsJSON;
      return lib
        .startAuthentication({ optionsJSON: optionsJSON })
        .then(function (response) {
          // "Remember this device" travels with the assertion when the page offers it.
          var remember = document.getElementById('remember_device');
          return postJson(button.getAttribute('data-action'), { csrf: button.getAttribute('data-csrf'), response: response, remember_device: Boolean(remember && remember.checked) });
        })
        .then(function (data) {
          return settle(data, errorEl);
        }, function (err) {
          return settle(null, errorEl, err);
        });
    });
  }

  // (b) enrollment: create a credential and send it with its nickname.
  function wireRegister(button) {
    var errorEl = errorElementFor();
    var nameInput = document.querySelector('[data-testid="webauthn-name"]');
    guarded(button, function () {
      var ready = prepare(button, errorEl);
      if (!ready) return false;
      var lib = ready.lib;
      var optionsJSON = ready.optionsJSON;
      var name = nameInput ? nameInput.value.trim() : '';
      if (nameInput && (name.length < 1 || name.length > 60)) {
        showError(errorEl, 'Enter a name of 1 to 60 characters.');
        nameInput.focus();
        return false;
      }
      return lib
        .startRegistration({ optionsJSON: optionsJSON })
        .then(function (response) {
          var body = { csrf: button.getAttribute('data-csrf'), response: response };
          if (name) body.name = name;
          return postJson(button.getAttribute('data-action'), body);
        })
        .then(function (data) {
          return settle(data, errorEl);
        }, function (err) {
          return settle(null, errorEl, err);
        });
    });
  }

  // (c) passwordless sign-in on the login page: fetch fresh options, then authenticate.
  function wirePasskeySignin(button) {
    var errorEl = document.getElementById('passkey-error') || errorElementFor();
    guarded(button, function () {
      hideError(errorEl);
      var lib = supported(errorEl);
      if (!lib) return false;
      var csrf = button.getAttribute('data-csrf');
      return postJson(button.getAttribute('data-options-url'), { csrf: csrf })
        .then(function (data) {
          if (!data || !data.optionsJSON) throw new Error(GENERIC);
          return lib.startAuthentication({ optionsJSON: data.optionsJSON });
        })
        .then(function (response) {
          return postJson(button.getAttribute('data-verify-url'), { csrf: csrf, response: response });
        })
        .then(function (data) {
          return settle(data, errorEl);
        }, function (err) {
          return settle(null, errorEl, err);
        });
    });
  }

  function init() {
    var start = document.querySelector('[data-testid="webauthn-start"]');
    if (start) wireChallenge(start);
    var register = document.querySelector('[data-testid="webauthn-register"]');
    if (register) wireRegister(register);
    var passkey = document.getElementById('passkey-signin');
    if (passkey) wirePasskeySignin(passkey);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
