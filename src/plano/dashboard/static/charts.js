/* Plano dashboard charts: small SVG charts drawn from plain arrays (no library, no inline
   styles: the page's CSP allows none). Exposes window.PlanoCharts. */
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["--s1", "--s2", "--s3", "--s4", "--s5", "--s6", "--s7"];

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function color(i) {
    const name = PALETTE[i % PALETTE.length];
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function clockLabel(ts, span) {
    const d = new Date(ts * 1000);
    const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    return span > 86400 ? d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + hm : hm;
  }

  function empty(container, text) {
    container.replaceChildren(html("div", { class: "empty", text }));
  }

  /* A time series chart: bars (stacked when several series) or lines.
     opts: {xs: [epoch s], step: s, series: [{name, values, color?}], kind: "bars"|"lines",
            format: value -> text, empty: text} */
  function timeChart(container, opts) {
    const xs = opts.xs || [];
    const series = (opts.series || []).filter((s) => s.values.some((v) => v !== null && v !== 0));
    if (!xs.length || !series.length) {
      empty(container, opts.empty || "No data yet");
      return { names: [], colors: [] };
    }
    const W = Math.max(container.clientWidth, 240);
    const H = Math.max(container.clientHeight, 120);
    const m = { l: 48, r: 10, t: 8, b: 22 };
    const iw = W - m.l - m.r;
    const ih = H - m.t - m.b;
    const stacked = opts.kind !== "lines";
    const tops = xs.map((_, i) =>
      stacked
        ? series.reduce((a, s) => a + (s.values[i] || 0), 0)
        : Math.max(0, ...series.map((s) => s.values[i] || 0))
    );
    const ymax = niceMax(Math.max(...tops));
    const fmt = opts.format || ((v) => String(v));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label || "chart" });
    const g = svg("g", { transform: `translate(${m.l},${m.t})` }, root);
    const axis = svg("g", { class: "axis" }, g);
    for (let k = 0; k <= 4; k++) {
      const y = ih - (ih * k) / 4;
      svg("line", { x1: 0, x2: iw, y1: y, y2: y, class: "gridline" }, axis);
      svg("text", { x: -6, y: y + 4, "text-anchor": "end" }, axis).textContent = fmt((ymax * k) / 4);
    }
    const n = xs.length;
    const bw = iw / n;
    const xAt = (i) => (opts.kind === "lines" ? (n === 1 ? iw / 2 : (i * iw) / (n - 1)) : i * bw + bw / 2);
    const span = xs[n - 1] - xs[0];
    const ticks = Math.min(6, n);
    let previous = "";
    for (let k = 0; k < ticks; k++) {
      const i = Math.round((k * (n - 1)) / Math.max(ticks - 1, 1));
      const text = clockLabel(xs[i], span);
      if (text === previous) continue; // a short window: one label per minute
      previous = text;
      svg("text", { x: xAt(i), y: ih + 16, "text-anchor": "middle" }, axis).textContent = text;
    }
    const colors = series.map((s, i) => s.color || color(i));
    const y = (v) => ih - (ih * v) / ymax;
    const plot = svg("g", { class: "plot" }, g);
    if (stacked) {
      const base = new Array(n).fill(0);
      series.forEach((s, si) => {
        s.values.forEach((v, i) => {
          if (!v) return;
          const y0 = y(base[i]);
          const y1 = y(base[i] + v);
          base[i] += v;
          svg("rect", {
            class: "bar-rect", x: i * bw + bw * 0.15, width: Math.max(bw * 0.7, 1),
            y: y1, height: Math.max(y0 - y1, 1), fill: colors[si], "data-series": s.name, "data-value": v,
          }, plot);
        });
      });
    } else {
      series.forEach((s, si) => {
        const pts = s.values.map((v, i) => (v === null || v === undefined ? null : [xAt(i), y(v)]));
        let d = "";
        let pen = false;
        for (const p of pts) {
          if (!p) { pen = false; continue; }
          d += (pen ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1);
          pen = true;
        }
        svg("path", { d, class: "series-line", stroke: colors[si], "data-series": s.name }, plot);
        pts.forEach((p, i) => {
          if (p) svg("circle", { cx: p[0], cy: p[1], r: n > 40 ? 1.5 : 2.5, fill: colors[si], "data-value": s.values[i] }, plot);
        });
      });
    }
    const guide = svg("line", { class: "guide", y1: 0, y2: ih, visibility: "hidden" }, g);
    const tip = html("div", { class: "tip", hidden: true });
    root.addEventListener("mousemove", (ev) => {
      const r = root.getBoundingClientRect();
      const px = ((ev.clientX - r.left) * W) / r.width - m.l;
      const i = opts.kind === "lines"
        ? Math.round((px / iw) * (n - 1))
        : Math.floor(px / bw);
      if (i < 0 || i >= n) { guide.setAttribute("visibility", "hidden"); tip.hidden = true; return; }
      guide.setAttribute("x1", xAt(i));
      guide.setAttribute("x2", xAt(i));
      guide.setAttribute("visibility", "visible");
      const rows = series.map((s, si) =>
        html("div", { class: "row" }, swatch(colors[si]), `${s.name}: ${s.values[i] === null ? "-" : fmt(s.values[i] || 0)}`)
      );
      tip.replaceChildren(html("div", { class: "muted", text: clockLabel(xs[i], span) }), ...rows);
      tip.hidden = false;
      const left = ((xAt(i) + m.l) * r.width) / W;
      tip.style.left = Math.min(left + 12, r.width - tip.offsetWidth - 4) + "px";
      tip.style.top = "4px";
    });
    root.addEventListener("mouseleave", () => { guide.setAttribute("visibility", "hidden"); tip.hidden = true; });
    container.replaceChildren(root, tip);
    return { names: series.map((s) => s.name), colors };
  }

  function swatch(c) {
    const s = html("span", { class: "sw" });
    s.style.background = c;
    return s;
  }

  function legend(container, names, colors) {
    container.replaceChildren(...names.map((n, i) => html("span", {}, swatch(colors[i]), n)));
  }

  /* A sparkline in an <svg> of the KPI tiles. */
  function sparkline(values, c) {
    const W = 120;
    const H = 28;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "aria-hidden": "true" });
    const vs = values.map((v) => v || 0);
    if (vs.length < 2) return root;
    const max = Math.max(...vs) || 1;
    const pts = vs.map((v, i) => [(i * W) / (vs.length - 1), H - 2 - ((H - 4) * v) / max]);
    const line = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join("");
    svg("path", { d: line + `L${W} ${H}L0 ${H}Z`, fill: c, class: "series-area" }, root);
    svg("path", { d: line, stroke: c, class: "series-line", "stroke-width": 1.5 }, root);
    return root;
  }

  window.PlanoCharts = { html, svg, color, timeChart, legend, sparkline, swatch, empty, niceMax };
})();
