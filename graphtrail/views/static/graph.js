/* graphtrail: draw an identity graph with vis-network.
 *
 * The graph comes from a <script type="application/json" data-graphtrail> block. Every string
 * in it may come from CloudTrail logs and is attacker-controlled, so tooltips are built as DOM
 * nodes whose text is set with textContent: nothing from the data is ever parsed as HTML.
 *
 * window.graphtrail is the first view: {network, nodes, edges, ready, startedAt, readyAt}.
 */
(function () {
  "use strict";

  function tooltip(head, rows) {
    var box = document.createElement("div");
    box.className = "gt-tip";
    var title = document.createElement("div");
    title.className = "gt-tip-head";
    title.textContent = head;
    box.appendChild(title);
    var table = document.createElement("table");
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      var td = document.createElement("td");
      th.textContent = row[0];
      td.textContent = row[1];
      tr.appendChild(th);
      tr.appendChild(td);
      table.appendChild(tr);
    });
    box.appendChild(table);
    return box;
  }

  function withTooltip(item) {
    item.title = tooltip(item.head, item.tip);
    delete item.head;
    delete item.tip;
    return item;
  }

  function find(view, text) {
    var needle = text.trim().toLowerCase();
    if (!needle) {
      view.network.unselectAll();
      return 0;
    }
    var hits = view.nodes.getIds({
      filter: function (n) {
        return String(n.id).toLowerCase().indexOf(needle) >= 0 ||
          String(n.label).toLowerCase().indexOf(needle) >= 0;
      }
    });
    view.network.selectNodes(hits);
    if (hits.length === 1) {
      view.network.focus(hits[0], {scale: 1.2, animation: false});
    } else if (hits.length > 1) {
      view.network.fit({nodes: hits, animation: false});
    }
    return hits.length;
  }

  // Account membership is the border colour; the links themselves are drawn on request.
  function showAccountLinks(view, show) {
    var marked = function (item) { return item.accountLink === true; };
    var flip = function (item) { return {id: item.id, hidden: !show}; };
    view.nodes.update(view.nodes.get({filter: marked}).map(flip));
    view.edges.update(view.edges.get({filter: marked}).map(flip));
  }

  function wire(view, root) {
    var fit = root.querySelector("[data-gt-action=fit]");
    if (fit) {
      fit.addEventListener("click", function () {
        view.network.fit({animation: false});
        view.frame();
      });
    }
    var accounts = root.querySelector("[data-gt-toggle=accounts]");
    if (accounts) {
      accounts.addEventListener("change", function () {
        showAccountLinks(view, accounts.checked);
      });
    }
    var search = root.querySelector("[data-gt-search]");
    var status = root.querySelector("[data-gt-search-status]");
    if (search) {
      search.addEventListener("keydown", function (event) {
        if (event.key !== "Enter") { return; }
        event.preventDefault();
        var n = find(view, search.value);
        if (status) {
          status.textContent = search.value.trim() ? n + (n === 1 ? " match" : " matches") : "";
        }
      });
    }
  }

  function build(block) {
    var data = JSON.parse(block.textContent);
    var container = document.getElementById(data.container);
    var root = container.closest(".gt-view") || document;
    var loading = root.querySelector(".gt-loading");
    var edges = data.edges.map(function (e) {
      var style = data.edgeKinds[e.kind] || {};
      return withTooltip(Object.assign({}, style, e));
    });
    var t0 = performance.now();
    var view = {
      nodes: new vis.DataSet(data.nodes.map(withTooltip)),
      edges: new vis.DataSet(edges),
      ready: false,
      startedAt: performance.now(),
      readyAt: null,
      network: null,
      // milliseconds: start (since navigation), data (parse, tooltips), layout, last drawing
      timings: {start: t0}
    };
    view.timings.data = performance.now() - t0;
    // Leave a margin round the fitted drawing (labels overhang the nodes), and do not blow
    // a three-node graph up to poster size.
    function frame() {
      var scale = Math.min(view.network.getScale() * 0.9, 1.3);
      view.network.moveTo({scale: scale, animation: false});
    }
    function done() {
      if (view.ready) { return; }
      view.ready = true;
      view.readyAt = performance.now();
      container.setAttribute("data-ready", "true");
      if (loading) { loading.hidden = true; }
    }
    var physics = data.options.physics && data.options.physics.enabled;
    var t1 = performance.now();
    view.network = new vis.Network(container, {nodes: view.nodes, edges: view.edges}, data.options);
    view.timings.layout = performance.now() - t1;
    view.network.on("beforeDrawing", function () { view._drawStart = performance.now(); });
    view.network.on("afterDrawing", function () {
      view.timings.lastDrawing = performance.now() - view._drawStart;
    });
    if (physics) {
      view.network.on("stabilizationProgress", function (p) {
        if (loading) {
          loading.textContent = "Laying out\u2026 " + Math.round(100 * p.iterations / p.total) + "%";
        }
      });
      // Freeze the layout once it has settled enough: a still picture is easier to read.
      view.network.once("stabilizationIterationsDone", function () {
        view.network.setOptions({physics: {enabled: false}});
        view.network.fit({animation: false});
        frame();
        view.network.once("afterDrawing", done);
        view.network.redraw();
      });
    } else {
      frame();
      view.network.once("afterDrawing", done);
      view.network.redraw();
    }
    view.frame = frame;
    wire(view, root);
    return view;
  }

  function start() {
    var blocks = document.querySelectorAll("script[type='application/json'][data-graphtrail]");
    var views = [];
    Array.prototype.forEach.call(blocks, function (block) {
      try {
        views.push(build(block));
      } catch (err) {
        var target = document.getElementById(block.getAttribute("data-graphtrail"));
        if (target) {
          target.textContent = "The graph could not be drawn: " + err;
        }
        throw err;
      }
    });
    window.graphtrailViews = views;
    window.graphtrail = views[0];
  }

  // Let the browser paint the page (and the "laying out" note) before the layout blocks it.
  window.addEventListener("DOMContentLoaded", function () {
    window.requestAnimationFrame(function () { window.setTimeout(start, 0); });
  });
}());
