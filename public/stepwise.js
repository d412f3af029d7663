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
 *   [data-testid="push-status"]        GET data-status-url every second → { status, message }; "approved" submits
 *                                      [data-testid="push-continue-form"] (the no-JS path is its Continue button)
 *   [data-testid="push-enroll-status"] GET data-status-url every second → { status }; "registered" submits
 *                                      [data-testid="push-enroll-form"]
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
          var keep = document.getElementById('keep_signed_in');
          return postJson(button.getAttribute('data-verify-url'), { csrf: csrf, response: response, keep_signed_in: Boolean(keep && keep.checked) });
        })
        .then(function (data) {
          return settle(data, errorEl);
        }, function (err) {
          return settle(null, errorEl, err);
        });
    });
  }

  /** Calls `url` every `intervalMs` until `onData(ok, data)` returns false; network errors just retry. */
  function poll(url, intervalMs, onData) {
    var stopped = false;
    function tick() {
      fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
        .then(function (res) {
          return res
            .json()
            .catch(function () {
              return null;
            })
            .then(function (data) {
              if (onData(res.ok, data) === false) stopped = true;
            });
        })
        .catch(function () {
          return undefined;
        })
        .then(function () {
          if (!stopped) window.setTimeout(tick, intervalMs);
        });
    }
    window.setTimeout(tick, intervalMs);
  }

  // (d) push approval: the page learns the answer by itself and continues once the phone approved.
  function wirePushStatus(el) {
    var form = document.querySelector('[data-testid="push-continue-form"]');
    var resend = document.querySelector('[data-testid="push-resend"]');
    var state = el.getAttribute('data-state');
    if (state === 'approved') {
      if (form) form.submit();
      return;
    }
    if (state !== 'pending') return;
    poll(el.getAttribute('data-status-url'), 1000, function (ok, data) {
      if (ok && data && data.status === 'pending') return true;
      el.textContent = (data && data.message) || GENERIC;
      el.setAttribute('data-state', (data && data.status) || 'error');
      if (ok && data && data.status === 'approved') {
        if (form) form.submit();
        return false;
      }
      el.className = 'error';
      if (form) form.hidden = true;
      if (resend) resend.hidden = false;
      return false;
    });
  }

  // (e) push enrollment on the account page: finishes by itself once the phone registered.
  function wirePushEnroll(el) {
    var form = document.querySelector('[data-testid="push-enroll-form"]');
    poll(el.getAttribute('data-status-url'), 1000, function (ok, data) {
      if (ok && data && data.status === 'waiting') return true;
      if (ok && data && data.status === 'registered') {
        // Texts come from the page (in its language); {device} is the phone's name.
        var registered = el.getAttribute('data-registered-text') || 'Your phone registered ({device}). Finishing…';
        el.textContent = registered.replace('{device}', data.deviceName || 'device');
        if (form) form.submit();
        return false;
      }
      el.textContent = ok ? el.getAttribute('data-expired-text') || 'The setup code expired. Start again from your account page.' : (data && data.message) || GENERIC;
      el.className = 'error';
      return false;
    });
  }

  function init() {
    var start = document.querySelector('[data-testid="webauthn-start"]');
    if (start) wireChallenge(start);
    var register = document.querySelector('[data-testid="webauthn-register"]');
    if (register) wireRegister(register);
    var passkey = document.getElementById('passkey-signin');
    if (passkey) wirePasskeySignin(passkey);
    var pushStatus = document.querySelector('[data-testid="push-status"]');
    if (pushStatus) wirePushStatus(pushStatus);
    var pushEnroll = document.querySelector('[data-testid="push-enroll-status"]');
    if (pushEnroll) wirePushEnroll(pushEnroll);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
