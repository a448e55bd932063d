/* Edit Subscription: refresh the preview as the quantity changes.
   The page works without this script (the "Preview" button posts the form); this only
   fetches the same preview fragment from the server and swaps it in. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-preview-url]");
  if (!form) return;
  var input = form.querySelector("input[name=quantity]");
  var target = document.getElementById("preview");
  var timer = null;
  var latest = 0; // only the answer to the newest request is shown

  function refresh() {
    var value = input.value.trim();
    var request = ++latest;
    if (value === "") {
      target.innerHTML = "";
      return;
    }
    var url = form.getAttribute("data-preview-url") + "?quantity=" + encodeURIComponent(value);
    form.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (request === latest) target.innerHTML = html;
      })
      .catch(function () {
        if (request === latest) {
          target.innerHTML =
            '<p class="message message-error" role="alert">The preview could not be loaded. Use the Preview button.</p>';
        }
      })
      .finally(function () {
        if (request === latest) form.removeAttribute("aria-busy");
      });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250); // milliseconds after the last keystroke
  });
})();
