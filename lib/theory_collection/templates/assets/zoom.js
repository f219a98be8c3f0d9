/* A tap or click on a figure opens it at full size in a dialog (a tap or Escape closes it). On a narrow
   screen the figure keeps its physical size (save_figure's 130 dpi on a 96 dpi screen) and scrolls inside
   the dialog, so its axes can be read; on a wide one it fits the window. Without script, a figure link
   opens the PNG. */
(function () {
  "use strict";
  var FIGURES = "a.zoom, .jp-OutputArea-output img, .jp-RenderedMarkdown img, body.theory main img";
  var PHYSICAL = 96 / 130;
  document.addEventListener("click", function (event) {
    var target = event.target.closest(FIGURES);
    if (!target || typeof HTMLDialogElement !== "function") return;
    var image = target.tagName === "IMG" ? target : target.querySelector("img");
    if (!image) return;
    event.preventDefault();
    var dialog = document.createElement("dialog");
    dialog.className = "zoom";
    var big = document.createElement("img");
    big.alt = image.alt || "";
    big.addEventListener("load", function () {
      if (window.innerWidth < 960) {
        big.style.width = Math.max(Math.round(big.naturalWidth * PHYSICAL), window.innerWidth) + "px";
      }
    });
    big.src = target.tagName === "A" ? target.getAttribute("href") : image.getAttribute("src");
    dialog.appendChild(big);
    dialog.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () { dialog.remove(); });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
})();
