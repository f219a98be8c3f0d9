/* A formula keeps its line. MathJax never breaks one (automatic line breaks are off); a display formula wider
   than its box scrolls inside it (CSS), and so does an inline formula wider than its paragraph, which this
   marks "wide-maths" once MathJax has typeset the page, again when the window is resized and when a collapsed
   part of the page opens. */
(function () {
  "use strict";
  function mark(root) {
    (root || document).querySelectorAll("span.MathJax, span.MathJax_SVG").forEach(function (maths) {
      if (maths.closest(".MathJax_Display, .MathJax_SVG_Display")) return;
      maths.classList.remove("wide-maths");
      var box = maths.parentElement;
      while (box && window.getComputedStyle(box).display === "inline") box = box.parentElement;
      if (box && box.clientWidth > 0 && maths.getBoundingClientRect().width > box.clientWidth) {
        maths.classList.add("wide-maths");
      }
    });
  }
  function whenTypeset(callback) {
    if (window.MathJax && window.MathJax.Hub && window.MathJax.Hub.Queue) window.MathJax.Hub.Queue(callback);
  }
  if (window.MathJax && window.MathJax.Hub && window.MathJax.Hub.Register) {
    window.MathJax.Hub.Register.StartupHook("End", function () { mark(); });
  }
  window.addEventListener("resize", function () { mark(); });
  document.addEventListener("toggle", function (event) {
    if (event.target.open) whenTypeset(function () { mark(event.target); });
  }, true);
})();
