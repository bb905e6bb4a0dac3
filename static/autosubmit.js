// Sends a form marked data-autosubmit once the page is open: a person opening a confirmation link
// needs no second click, while a scanner that only fetches the page confirms nothing.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (form) { form.submit(); }
})();
