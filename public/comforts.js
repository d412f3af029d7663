/*
 * Small comforts of the hosted pages, as progressive enhancement (every page works without this file;
 * CSP script-src 'self', no inline script):
 *  - show/hide password: [data-testid="show-password"] (rendered hidden, shown here) toggles its
 *    aria-controls input between password and text; labels come from data-show-label / data-hide-label.
 *  - focus on the first error: the first aria-invalid field, else the first page-level error message
 *    (tabindex="-1"), so keyboard and screen-reader users land where the problem is.
 */
(function () {
  'use strict';

  function wireReveal(button) {
    var input = document.getElementById(button.getAttribute('aria-controls'));
    if (!input) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      var show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      button.setAttribute('aria-pressed', show ? 'true' : 'false');
      button.textContent = button.getAttribute(show ? 'data-hide-label' : 'data-show-label');
    });
    // Never submit the password field as type=text state into autofill heuristics: restore before submit.
    if (input.form) input.form.addEventListener('submit', function () { input.type = 'password'; });
  }

  function focusFirstError() {
    var field = document.querySelector('[aria-invalid="true"]');
    if (field) {
      field.focus();
      return;
    }
    var message = document.querySelector('.error[tabindex="-1"]:not([hidden])');
    if (message && message.textContent.trim() !== '') message.focus();
  }

  function init() {
    var reveals = document.querySelectorAll('[data-testid="show-password"]');
    for (var i = 0; i < reveals.length; i++) wireReveal(reveals[i]);
    focusFirstError();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
