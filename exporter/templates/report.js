(function () {
  "use strict";

  // Sortable tables: click (or Enter on) a header to sort by that column;
  // a second click reverses. Cells sort by data-v when present.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var body = table.tBodies[0];
    function key(row, i, numeric) {
      var cell = row.cells[i];
      var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
      if (numeric) {
        var n = parseFloat(v);
        return isNaN(n) ? -Infinity : n;
      }
      return v.toLowerCase();
    }
    function sortBy(i) {
      var th = headers[i];
      var numeric = th.getAttribute("data-type") === "num";
      var current = th.getAttribute("aria-sort");
      // Numbers start with the largest, text from A.
      var dir = current === "descending" ? "ascending" : current === "ascending" ? "descending" : numeric ? "descending" : "ascending";
      var sign = dir === "ascending" ? 1 : -1;
      var rows = Array.prototype.slice.call(body.rows).map(function (row, pos) {
        return { row: row, key: key(row, i, numeric), pos: pos };
      });
      rows.sort(function (a, b) {
        if (a.key < b.key) return -sign;
        if (a.key > b.key) return sign;
        return a.pos - b.pos;
      });
      rows.forEach(function (r) { body.appendChild(r.row); });
      headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir);
    }
    headers.forEach(function (th, i) {
      th.tabIndex = 0;
      th.title = "Sort by " + th.textContent.trim();
      th.addEventListener("click", function () { sortBy(i); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(i); }
      });
    });
  });

  // Copy buttons: the clipboard when the browser allows it, otherwise the
  // text is selected for Ctrl+C.
  document.querySelectorAll("button.copy").forEach(function (button) {
    var code = document.getElementById(button.getAttribute("data-copy"));
    if (!code) return;
    function show(label) {
      button.textContent = label;
      button.classList.toggle("done", label === "Copied");
      setTimeout(function () { button.textContent = "Copy"; button.classList.remove("done"); }, 2000);
    }
    function select() {
      var range = document.createRange();
      range.selectNodeContents(code);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      show("Press Ctrl+C");
    }
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(code.textContent).then(function () { show("Copied"); }, select);
      } else {
        select();
      }
    });
  });

  // Links to a plan node inside a closed plan open the plan first.
  function reveal() {
    var id;
    try {
      id = decodeURIComponent(location.hash.slice(1));
    } catch (e) {
      return; // a malformed escape (#%) names no node
    }
    var target = id && document.getElementById(id);
    if (!target) return;
    var opened = false;
    for (var el = target.parentElement; el; el = el.parentElement) {
      if (el.tagName === "DETAILS" && !el.open) { el.open = true; opened = true; }
    }
    if (opened) target.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  reveal();

  document.documentElement.classList.add("js");
})();
