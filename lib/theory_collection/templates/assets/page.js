/* Notebook pages: the "hide code" button of the top bar shows or hides every code cell's input (the
   outputs stay); the choice is kept for the next page. A link to a cell shows that cell. */
(function () {
  "use strict";
  var KEY = "theory-collection:hide-code";
  var button = document.querySelector("button.code-toggle");
  function show(hidden) {
    document.body.classList.toggle("hide-code", hidden);
    if (button) {
      button.textContent = hidden ? "show code" : "hide code";
      button.setAttribute("aria-pressed", hidden ? "true" : "false");
    }
  }
  function remembered() {
    try { return window.localStorage.getItem(KEY) === "1"; } catch (error) { return false; }
  }
  show(remembered());
  if (button) {
    button.addEventListener("click", function () {
      var hidden = !document.body.classList.contains("hide-code");
      show(hidden);
      try { window.localStorage.setItem(KEY, hidden ? "1" : "0"); } catch (error) { /* private window */ }
    });
  }
})();
