/* index.html: a link to a claim or a figure inside a collapsed notebook opens that notebook (and shows the
   target); "open all" opens every notebook. */
(function () {
  "use strict";
  function reveal() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) return;
    var opened = false;
    for (var details = target.closest("details"); details; details = details.parentElement.closest("details")) {
      if (!details.open) { details.open = true; opened = true; }
    }
    if (opened) target.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  reveal();
  document.addEventListener("click", function (event) {
    var link = event.target.closest('a[href^="#"]');
    if (link && link.getAttribute("href") === window.location.hash) reveal();  // the same link again: no hashchange
  });
  var button = document.querySelector("button.expand-all");
  if (button) {
    button.addEventListener("click", function () {
      var open = button.textContent === "open all";
      document.querySelectorAll("section.notebook > details").forEach(function (d) { d.open = open; });
      button.textContent = open ? "close all" : "open all";
    });
  }
})();
