/* graphtrail: sortable report tables.
 *
 * A table marked data-rp-sortable sorts by a column when its header button is clicked; a
 * cell's data-sort attribute, when present, is the value sorted on (times, counts). Rows
 * are moved, never rebuilt: no text is ever parsed as HTML.
 */
(function () {
  "use strict";

  function value(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var given = cell.getAttribute("data-sort");
    return given !== null ? given : cell.textContent.trim();
  }

  function compare(a, b, numeric) {
    if (numeric) {
      var x = parseFloat(a), y = parseFloat(b);
      if (isNaN(x)) { x = -Infinity; }
      if (isNaN(y)) { y = -Infinity; }
      return x - y;
    }
    return a.localeCompare(b, undefined, {numeric: true, sensitivity: "base"});
  }

  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = header.getAttribute("aria-sort") === "ascending";
    var numeric = header.hasAttribute("data-numeric");
    var keyed = rows.map(function (row, i) { return {row: row, key: value(row, index), i: i}; });
    keyed.sort(function (p, q) {
      var order = compare(p.key, q.key, numeric);
      if (order === 0) { order = p.i - q.i; }
      return descending ? -order : order;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k.row); });
    body.appendChild(frag);
  }

  function wire(table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = th.querySelector("button.rp-sort");
      if (button) {
        button.addEventListener("click", function () { sortBy(table, index, th); });
      }
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table[data-rp-sortable]"), wire);
    document.documentElement.setAttribute("data-rp-ready", "true");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
