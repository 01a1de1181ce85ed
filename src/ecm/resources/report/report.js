// ecm report: draws the page from the JSON in <script id="report-data">. Plain DOM and inline SVG, no
// library; text goes in through textContent only. Timelines are drawn when their row scrolls into view.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var CATEGORY_COLOURS = ["#2ca02c", "#9467bd", "#e377c2", "#ff7f0e", "#d62728", "#8c8c8c"];
  var CLASS_COLOURS = ["#1f77b4", "#17becf", "#bcbd22", "#8c564b", "#e377c2", "#7f7f7f"];
  var FP_COLOUR = "#d62728";
  var SHORT_NAMES = ["TP", "double", "wrong label", "localization", "confusion", "background"];
  var LOSS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }
  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }
  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
  }
  function titled(node, text) { node.appendChild(svg("title", { text: text })); return node; }
  function fixed(value, digits) { return value === null || value === undefined ? "—" : value.toFixed(digits); }
  function table(header, rows, classes) {
    var head = el("tr", {}, header.map(function (h, i) {
      return el("th", { class: (classes && classes[i]) || "" }, [h]);
    }));
    var body = rows.map(function (row) {
      return el("tr", {}, row.map(function (cell, i) {
        var td = el("td", { class: (classes && classes[i]) || "" });
        if (typeof cell === "string") { td.textContent = cell; } else { td.appendChild(cell); }
        return td;
      }));
    });
    return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }
  function section(title, children) {
    var node = el("section", {}, [el("h2", {}, [title])]);
    children.forEach(function (child) { node.appendChild(child); });
    return node;
  }

  // A line chart: series = [{name, x: [], y: [] (null = gap), colour}].
  function lineChart(series, options) {
    var width = 560, height = 230, left = 46, right = 110, top = 10, bottom = 30;
    var xs = [], ys = [];
    series.forEach(function (s) {
      s.x.forEach(function (x, i) { if (s.y[i] !== null) { xs.push(x); ys.push(s.y[i]); } });
    });
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, class: "chart" });
    if (!xs.length) { chart.appendChild(svg("text", { x: left, y: 40, text: "nothing recorded" })); return chart; }
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min(0, Math.min.apply(null, ys)), y1 = Math.max.apply(null, ys);
    if (x1 === x0) { x1 = x0 + 1; }
    if (y1 === y0) { y1 = y0 + 1; }
    var px = function (x) { return left + (x - x0) / (x1 - x0) * (width - left - right); };
    var py = function (y) { return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom); };
    chart.appendChild(svg("line", { x1: left, x2: width - right, y1: py(y0), y2: py(y0), class: "axis" }));
    chart.appendChild(svg("line", { x1: left, x2: left, y1: top, y2: height - bottom, class: "axis" }));
    [y0, (y0 + y1) / 2, y1].forEach(function (y) {
      chart.appendChild(svg("text", { x: left - 4, y: py(y) + 3, "text-anchor": "end", text: y.toPrecision(3) }));
    });
    [x0, Math.round((x0 + x1) / 2), x1].forEach(function (x) {
      chart.appendChild(svg("text", { x: px(x), y: height - bottom + 13, "text-anchor": "middle", text: String(x) }));
    });
    chart.appendChild(svg("text", { x: (left + width - right) / 2, y: height - 3, "text-anchor": "middle", text: options.xLabel }));
    series.forEach(function (s, n) {
      var path = "", pen = "M";
      s.x.forEach(function (x, i) {
        if (s.y[i] === null) { pen = "M"; return; }
        path += pen + px(x).toFixed(1) + " " + py(s.y[i]).toFixed(1) + " ";
        pen = "L";
      });
      chart.appendChild(titled(svg("path", { d: path, fill: "none", stroke: s.colour, "stroke-width": 1.5 }), s.name));
      if (s.x.length <= 40) {
        s.x.forEach(function (x, i) {
          if (s.y[i] !== null) {
            chart.appendChild(titled(svg("circle", { cx: px(x), cy: py(s.y[i]), r: 2.5, fill: s.colour }), s.name + ", epoch " + x + ": " + s.y[i]));
          }
        });
      }
      var ly = top + 12 + n * 15;
      chart.appendChild(svg("line", { x1: width - right + 8, x2: width - right + 24, y1: ly - 3, y2: ly - 3, stroke: s.colour, "stroke-width": 2 }));
      chart.appendChild(svg("text", { x: width - right + 28, y: ly, text: s.name }));
    });
    return chart;
  }

  // ---- the run ------------------------------------------------------------------------------------------
  function runSection() {
    var run = data.run;
    var facts = [
      ["run folder", run.folder],
      ["checkpoint", run.checkpoint + " (epoch " + run.epoch + ")"],
      ["data", run.data + ", split " + run.split],
      ["detections", run.predictions || "the checkpoint's, with the run's post-processing"],
    ];
    var nodes = [table(["", ""], facts, ["text", "text"])];
    var diffTitle = "Settings that differ from the paper's " + run.paper_recipe + " recipe (" + run.differences.length + ")";
    nodes.push(el("h3", {}, [diffTitle]));
    if (run.differences.length) {
      nodes.push(table(["setting", "paper", "this run"], run.differences.map(function (d) {
        return [d[0], JSON.stringify(d[1]), JSON.stringify(d[2])];
      }), ["text", "text", "text"]));
    } else {
      nodes.push(el("p", {}, ["none: this run is the paper's recipe."]));
    }
    if (data.protocols.length) {
      nodes.push(el("h3", {}, ["Protocols (summary.json, test split, " + data.metric + ")"]));
      nodes.push(table(["protocol", "epoch", data.metric, "average mAP"], data.protocols.map(function (p) {
        return [p.name, String(p.epoch), fixed(p.value, 2), fixed(p.average, 2)];
      }), ["text"]));
    }
    return section("Run", nodes);
  }

  function curvesSection() {
    var c = data.curves;
    var losses = Object.keys(c.loss).map(function (name, i) {
      return { name: name, x: c.epoch, y: c.loss[name], colour: LOSS_COLOURS[i % LOSS_COLOURS.length] };
    });
    var scores = [{ name: "test", x: c.eval_epoch, y: c.test, colour: "#1f77b4" }];
    if (c.val.some(function (v) { return v !== null; })) {
      scores.push({ name: "validation", x: c.eval_epoch, y: c.val, colour: "#ff7f0e" });
    }
    return section("Training", [el("div", { class: "grid" }, [
      el("div", {}, [el("div", {}, ["loss terms per epoch"]), lineChart(losses, { xLabel: "epoch" })]),
      el("div", {}, [el("div", {}, [c.metric + " per evaluated epoch"]), lineChart(scores, { xLabel: "epoch" })]),
    ])]);
  }

  // The gate's bar in one video: "τ 0.25", or with the relative gate "τ · max p 0.187" (g: [class, p, bar]).
  function gateBar(g, sep) {
    return data.gate === "relative" ? "τ · max p" + sep + g[2].toFixed(3) : "τ" + sep + data.tau;
  }

  function resultsSection() {
    var r = data.results;
    var maps = table(["tIoU"].concat(r.tious.map(String)), [["mAP"].concat(r.mAP.map(function (v) { return fixed(v, 2); }))]);
    var averages = table(["average"].concat(Object.keys(r.averages)), [["mAP"].concat(Object.keys(r.averages).map(function (k) { return fixed(r.averages[k], 2); }))]);
    var perClass = table(["class", "instances", "AP@" + data.tiou, "", data.gate === "relative" ? "videos below τ · max p" : "videos below τ"], r.per_class.map(function (c) {
      var gate = el("span", { title: "videos with " + c.name + " whose softmax(s_pre) for it is below τ = " + data.tau + (data.gate === "relative" ? " × the video's highest class probability" : "") + ": the run's post-processing localizes nothing of " + c.name + " there" },
        [c.videos ? c.gated + " of " + c.videos : ""]);
      return [c.name, String(c.instances), fixed(c.ap, 2), el("span", { class: "bar", style: "width:" + (1.5 * c.ap).toFixed(0) + "px" }), gate];
    }), ["text"]);
    var d = data.diagnosis;
    var diagnosis = table(["category", "count", "share %", "mAP gain if removed"], d.rows.map(function (row, i) {
      var name = el("span", {}, [el("span", { class: "swatch", style: "background:" + CATEGORY_COLOURS[i] }), row.name]);
      return [name, String(row.count), fixed(row.share, 2), row.gain === null ? "" : (row.gain >= 0 ? "+" : "") + row.gain.toFixed(2)];
    }), ["text"]);
    var note = el("p", { class: "muted" }, [
      "Error diagnosis at tIoU " + data.tiou + ": " + d.num_predictions + " of " + d.num_given +
      " predictions (the top 10 × instances of each class); their mAP " + fixed(d.base_map, 2) + ".",
    ]);
    return section("Results", [maps, el("p", {}, []), averages, el("div", { class: "grid" }, [
      el("div", {}, [el("h3", {}, ["Per class"]), perClass]),
      el("div", {}, [el("h3", {}, ["Error diagnosis"]), note, diagnosis]),
    ])]);
  }

  // ---- the videos ---------------------------------------------------------------------------------------
  function decodeCas(text) {
    var raw = atob(text), low = data.cas_range[0], high = data.cas_range[1], out = new Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = low + raw.charCodeAt(i) / 255 * (high - low); }
    return out;
  }

  function lanes(det) {  // detections arrive best first; each takes the first lane it overlaps nothing in
    var ends = [], lane = [], maxLanes = 10;
    for (var i = 0; i < det.start.length; i++) {
      var placed = -1;
      for (var l = 0; l < ends.length; l++) {
        if (ends[l].every(function (span) { return det.end[i] <= span[0] || det.start[i] >= span[1]; })) { placed = l; break; }
      }
      if (placed < 0) { placed = ends.length < maxLanes ? ends.push([]) - 1 : maxLanes - 1; }
      ends[placed].push([det.start[i], det.end[i]]);
      lane.push(placed);
    }
    return { lane: lane, count: Math.max(1, ends.length) };
  }

  function timeline(row) {
    var width = 900, left = 4, right = 4, casHeight = 56, gtHeight = 9, laneHeight = 6;
    var det = row.det, packed = lanes(det);
    var height = casHeight + 6 + gtHeight + 6 + packed.count * laneHeight + 16;
    var duration = Math.max(row.duration, 1e-6);
    var px = function (t) { return left + Math.max(0, Math.min(t, duration)) / duration * (width - left - right); };
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, class: "timeline", "data-video": row.id });
    var low = data.cas_range[0], high = data.cas_range[1];
    var cy = function (v) { return casHeight - (v - low) / (high - low) * (casHeight - 4); };
    chart.appendChild(svg("line", { x1: left, x2: width - right, y1: cy(0), y2: cy(0), stroke: "#d2d2d7" }));
    if (row.cas) {
      row.cas.classes.forEach(function (k, n) {
        var values = decodeCas(row.cas.data[n]), step = duration / values.length, path = "";
        values.forEach(function (v, i) { path += (i ? "L" : "M") + px((i + 0.5) * step).toFixed(1) + " " + cy(v).toFixed(1); });
        var isFp = k === row.cas.fp;
        var line = svg("path", { d: path, fill: "none", stroke: isFp ? FP_COLOUR : CLASS_COLOURS[n % CLASS_COLOURS.length], "stroke-width": 1.3, class: "cas" });
        if (isFp) { line.setAttribute("stroke-dasharray", "4 2"); }
        var shut = row.gated.filter(function (g) { return g[0] === k; })[0];
        var gate = shut ? " — p = " + shut[1].toFixed(3) + " < " + gateBar(shut, " = ") + ": the run's post-processing localizes nothing of it" : "";
        chart.appendChild(titled(line, "CAS (normalised) of " + data.classes[k] + (isFp ? " — top false-positive class" : "") + gate));
      });
    }
    var gtY = casHeight + 6;
    row.gt.forEach(function (g) {
      var colour = row.cas ? CLASS_COLOURS[Math.max(0, row.cas.classes.indexOf(g[2])) % CLASS_COLOURS.length] : "#1f77b4";
      chart.appendChild(titled(svg("rect", { x: px(g[0]), y: gtY, width: Math.max(1, px(g[1]) - px(g[0])), height: gtHeight, fill: colour, class: "gt" }),
        "ground truth " + (data.classes[g[2]] || "?") + ": " + g[0].toFixed(2) + "–" + g[1].toFixed(2) + " s"));
    });
    var detY = gtY + gtHeight + 6, top = det.score.length ? det.score[0] : 1;
    for (var i = 0; i < det.start.length; i++) {
      var mark = svg("rect", {
        x: px(det.start[i]), y: detY + packed.lane[i] * laneHeight, width: Math.max(1, px(det.end[i]) - px(det.start[i])),
        height: laneHeight - 1, fill: CATEGORY_COLOURS[det.category[i]], "fill-opacity": (0.3 + 0.7 * det.score[i] / (top || 1)).toFixed(2), class: "det",
      });
      chart.appendChild(titled(mark, data.classes[det.label[i]] + " " + det.score[i].toFixed(4) + ", " + det.start[i].toFixed(2) + "–" +
        det.end[i].toFixed(2) + " s: " + data.categories[det.category[i]]));
    }
    [0, duration / 2, duration].forEach(function (t, n) {
      chart.appendChild(svg("text", { x: px(t), y: height - 3, "text-anchor": ["start", "middle", "end"][n], text: t.toFixed(0) + " s" }));
    });
    return chart;
  }

  var COLUMNS = [
    { name: "video", key: function (r) { return r.id; }, text: true },
    { name: "AP@" + data.tiou, key: function (r) { return r.ap; } },
    { name: "instances", key: function (r) { return r.gt.length; } },
    { name: "detections", key: function (r) { return r.det.start.length; } },
    { name: "errors", key: function (r) { return r.det.start.length - r.counts[0]; } },
  ].concat(data.categories.map(function (name, c) {
    return { name: SHORT_NAMES[c], title: name, key: function (r) { return r.counts[c]; }, category: c };
  }));

  function videosSection() {
    var rows = data.videos.slice();
    var state = { column: 1, ascending: true, cls: "", maxAp: "", minErrors: "" };
    var tbody = el("tbody", { id: "video-rows" });
    var count = el("span", { id: "video-count", class: "muted" });
    var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) { draw(entry.target); observer.unobserve(entry.target); }
      });
    }, { rootMargin: "400px" }) : null;
    function draw(cell) {
      if (cell.firstChild && cell.firstChild.nodeName.toLowerCase() === "svg") { return; }
      cell.textContent = "";
      cell.appendChild(timeline(cell.row));
    }
    var trOf = {};
    data.videos.forEach(function (r) {
      var shut = Object.create(null);
      r.gated.forEach(function (g) { shut[data.classes[g[0]]] = g; });
      var classes = r.gt.map(function (g) { return data.classes[g[2]]; }).filter(function (v, i, a) { return a.indexOf(v) === i; });
      var names = classes.map(function (name) {
        return name in shut ? name + " (p " + shut[name][1].toFixed(3) + " < " + gateBar(shut[name], " ") + ")" : name;
      });
      var first = el("td", { class: "text" }, [el("code", {}, [r.id]), el("span", { class: "muted" }, [" " + (names.join(", ") || "no instances")])]);
      var tr = el("tr", { class: "video", "data-video": r.id }, [first]);
      COLUMNS.slice(1).forEach(function (column, i) {
        var value = column.key(r);
        tr.appendChild(el("td", { class: i === 0 ? "ap" : "" }, [i === 0 ? fixed(value, 1) : String(value)]));
      });
      var cell = el("td", { class: "timeline", colspan: String(COLUMNS.length) }, [el("div", { class: "placeholder" })]);
      cell.row = r;
      trOf[r.id] = [tr, el("tr", { class: "timeline-row" }, [cell])];
      if (observer) { observer.observe(cell); } else { draw(cell); }
    });
    var header = el("tr", {}, COLUMNS.map(function (column, i) {
      var th = el("th", { class: "sortable" + (column.text ? " text" : ""), "data-column": String(i), title: column.title || "" }, []);
      if (column.category !== undefined) {
        th.appendChild(el("span", { class: "swatch", style: "background:" + CATEGORY_COLOURS[column.category] }));
      }
      th.appendChild(document.createTextNode(column.name));
      th.addEventListener("click", function () {
        state.ascending = state.column === i ? !state.ascending : !!column.text || i === 1;
        state.column = i;
        render();
      });
      return th;
    }));
    function passes(r) {
      if (state.cls && !r.gt.some(function (g) { return data.classes[g[2]] === state.cls; }) &&
          !r.det.label.some(function (k) { return data.classes[k] === state.cls; })) { return false; }
      if (state.maxAp !== "" && !(r.ap !== null && r.ap <= Number(state.maxAp))) { return false; }
      if (state.minErrors !== "" && r.det.start.length - r.counts[0] < Number(state.minErrors)) { return false; }
      return true;
    }
    function render() {
      var key = COLUMNS[state.column].key, sign = state.ascending ? 1 : -1;
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null && y === null) { return a.id < b.id ? -1 : 1; }
        if (x === null) { return 1; }
        if (y === null) { return -1; }
        if (x !== y) { return (x < y ? -1 : 1) * sign; }
        return a.id < b.id ? -1 : 1;
      });
      var shown = rows.filter(passes);
      tbody.textContent = "";
      shown.forEach(function (r) { tbody.appendChild(trOf[r.id][0]); tbody.appendChild(trOf[r.id][1]); });
      Array.prototype.forEach.call(header.children, function (th, i) {
        th.classList.toggle("sorted", i === state.column);
        th.classList.toggle("ascending", i === state.column && state.ascending);
      });
      count.textContent = shown.length + " of " + rows.length + " videos";
    }
    var classSelect = el("select", { id: "class-filter" }, [el("option", { value: "" }, ["all classes"])].concat(
      data.classes.map(function (name) { return el("option", { value: name }, [name]); })));
    classSelect.addEventListener("change", function () { state.cls = classSelect.value; render(); });
    var apInput = el("input", { type: "number", id: "ap-filter", min: "0", max: "100", step: "5" });
    apInput.addEventListener("input", function () { state.maxAp = apInput.value; render(); });
    var errorInput = el("input", { type: "number", id: "error-filter", min: "0", step: "1" });
    errorInput.addEventListener("input", function () { state.minErrors = errorInput.value; render(); });
    var legend = el("div", { class: "legend" }, data.categories.map(function (name, c) {
      return el("span", {}, [el("span", { class: "swatch", style: "background:" + CATEGORY_COLOURS[c] }), name]);
    }).concat([el("span", { class: "muted" }, ["timelines: normalised CAS (lines: ground-truth classes; dashed red: the top " +
      "false-positive class), ground truth, then the detections by match (darker = higher score)"])]));
    var controls = el("div", { class: "controls" }, [
      el("label", {}, ["class", classSelect]),
      el("label", {}, ["AP at most", apInput]),
      el("label", {}, ["errors at least", errorInput]),
      count,
    ]);
    var note = el("p", { class: "muted" }, [
      "AP@" + data.tiou + " of a video: the mean over its ground-truth classes of the AP of its own detections of that class " +
      "(the protocol's matching, one video at a time). Counts are of all its detections (no top-10 limit). " +
      "Click a column to sort; the timelines are drawn as they scroll into view.",
    ]);
    render();
    return section("Videos (" + data.run.split + ", " + data.videos.length + ")", [note, controls, legend,
      el("table", { id: "videos" }, [el("thead", {}, [header]), tbody])]);
  }

  var app = document.getElementById("app");
  app.textContent = "";
  app.appendChild(el("h1", {}, ["ecm report: " + data.title]));
  app.appendChild(el("p", { class: "muted" }, [
    "mAP@" + data.tiou + " " + fixed(data.results.map_at_tiou, 2) +
    " on " + data.videos.length + " " + data.run.split + " videos; written by ecm report.",
  ]));
  [runSection, curvesSection, resultsSection, videosSection].forEach(function (make) { app.appendChild(make()); });
  document.body.setAttribute("data-ready", "true");
})();
