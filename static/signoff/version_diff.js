// The prediction diff page: marks the words that differ in each changed item's two outputs with the review
// screen's word diff (render.js) and its one neutral mark for both sides. The texts are read from the server's
// escaped text nodes and written back with textContent only: outputs are untrusted.
(function () {
  "use strict";

  function view(parts) {
    const box = document.createElement("div");
    box.className = "text diff-side diff-view";
    for (const part of parts) {
      if (part.changed) {
        const mark = document.createElement("mark");
        mark.className = "diff-changed";
        mark.textContent = part.text;
        box.appendChild(mark);
      } else {
        box.appendChild(document.createTextNode(part.text));
      }
    }
    return box;
  }

  function markRows() {
    if (!window.SignoffRender) return;
    for (const row of document.querySelectorAll("tr.diff-row")) {
      const sides = row.querySelectorAll("div.diff-side");
      if (sides.length !== 2) continue;
      const result = window.SignoffRender.diff(sides[0].textContent, sides[1].textContent);
      sides[0].replaceWith(view(result.a));
      sides[1].replaceWith(view(result.b));
    }
  }

  document.addEventListener("DOMContentLoaded", markRows);
})();
