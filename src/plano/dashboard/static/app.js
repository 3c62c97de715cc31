/* Plano dashboard: reads the admin API (/plano/v1/*) with the admin key kept in this tab's
   sessionStorage and sent as a header; polls while the tab is visible. Every value from the
   gateway reaches the page as text (textContent), never as HTML. */
(function () {
  "use strict";
  const C = window.PlanoCharts;
  const { html } = C;
  const KEY = "plano.adminKey";
  const THEME = "plano.theme";
  const POLL_MS = 5000;
  const STEPS = { 300: 5, 900: 15, 3600: 60, 21600: 300, 86400: 1200 };
  const QUALITIES = ["excellent", "good", "neutral", "poor", "severe"];
  const $ = (id) => document.getElementById(id);

  const state = {
    window: 3600, dim: "model", metric: "cost", paused: false, busy: false, timer: null,
    features: null, seen: new Set(), traceCache: new Map(), last: null, selectedSpan: null,
  };

  class Unauthorized extends Error {}

  // ---------------------------------------------------------------- the admin API

  async function get(path) {
    const key = sessionStorage.getItem(KEY);
    const headers = { accept: "application/json" };
    if (key) headers["x-plano-admin-key"] = key;
    const resp = await fetch(path, { headers, credentials: "omit", cache: "no-store", redirect: "error" });
    let data = null;
    try { data = await resp.json(); } catch (_) { data = null; }
    if (resp.status === 401) throw new Unauthorized(message(data) || "The admin key was not accepted.");
    if (!resp.ok) return { ok: false, status: resp.status, error: message(data) || `HTTP ${resp.status}` };
    return { ok: true, status: resp.status, data };
  }

  function message(body) {
    return body && body.error && typeof body.error.message === "string" ? body.error.message : null;
  }

  const has = (path) => !!(state.features && state.features.has(path));

  // ---------------------------------------------------------------- formatting

  function usd(v) {
    const n = Number(v || 0);
    if (n === 0) return "$0";
    if (Math.abs(n) < 0.01) return "$" + n.toPrecision(3).replace(/0+$/, "").replace(/\.$/, "");
    return "$" + n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function count(v) {
    const n = Number(v || 0);
    if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(n >= 1e5 ? 0 : 1) + "k";
    return String(Math.round(n * 100) / 100);
  }
  function ms(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "-";
    if (v === 0) return "0";
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 2) + " s";
    return (v >= 10 ? Math.round(v) : v.toFixed(v < 1 ? 2 : 1)) + " ms";
  }
  const pct = (v) => (v === null || v === undefined ? "-" : (v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0) + "%");
  const clock = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  function ago(seconds) {
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " d";
  }
  function percentile(values, q) {
    const v = values.filter((x) => typeof x === "number").sort((a, b) => a - b);
    if (!v.length) return null;
    return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))];
  }
  const tokensOf = (r) => (r.input_tokens || 0) + (r.output_tokens || 0) + (r.cache_read_tokens || 0) + (r.cache_write_tokens || 0);
  const modelOf = (r) => (r.provider && r.model ? `${r.provider}/${r.model}` : r.model_requested || "(none)");
  // The usage log's column behind a group-by name, where they differ.
  const COLUMN = { user: "user_id", key: "key_id", trace: "trace_id" };
  function dimOf(r, dim) {
    if (dim === "model") return modelOf(r);
    const v = r[dim] !== undefined ? r[dim] : r[COLUMN[dim]];
    return v === null || v === undefined || v === "" ? "(none)" : String(v);
  }

  // ---------------------------------------------------------------- pure shaping

  function buckets(now, windowS) {
    const step = STEPS[windowS] || 60;
    const first = Math.floor((now - windowS) / step) * step + step;
    const xs = [];
    for (let t = first; t <= now; t += step) xs.push(t);
    return { xs, step, first };
  }

  function seriesFrom(records, b) {
    const n = b.xs.length;
    const slot = (r) => Math.min(n - 1, Math.floor((r.ts - b.first) / b.step) + 1);
    const ok = new Array(n).fill(0);
    const bad = new Array(n).fill(0);
    const lat = Array.from({ length: n }, () => []);
    for (const r of records) {
      const i = slot(r);
      if (i < 0) continue;
      if ((r.status || 0) >= 400) bad[i]++;
      else ok[i]++;
      lat[i].push(r.total_ms);
    }
    return {
      ok, bad, total: ok.map((v, i) => v + bad[i]),
      p50: lat.map((l) => percentile(l, 0.5)), p95: lat.map((l) => percentile(l, 0.95)),
      p99: lat.map((l) => percentile(l, 0.99)), slot,
    };
  }

  function stackBy(records, b, dim, metric, slot, top) {
    const totals = new Map();
    const value = (r) => (metric === "cost" ? Number(r.cost_usd || 0) : tokensOf(r));
    for (const r of records) totals.set(dimOf(r, dim), (totals.get(dimOf(r, dim)) || 0) + value(r));
    const names = [...totals.entries()].sort((a, b2) => b2[1] - a[1]).map((e) => e[0]);
    const kept = names.slice(0, top);
    const series = kept.map((name) => ({ name, values: new Array(b.xs.length).fill(0) }));
    const other = { name: "other", values: new Array(b.xs.length).fill(0) };
    const index = new Map(kept.map((n, i) => [n, i]));
    for (const r of records) {
      const i = slot(r);
      if (i < 0) continue;
      const k = index.get(dimOf(r, dim));
      (k === undefined ? other : series[k]).values[i] += value(r);
    }
    if (names.length > top) series.push(other);
    return series;
  }

  // ---------------------------------------------------------------- panels

  function kpi(label, value, sub, opts) {
    const o = opts || {};
    const tile = html("div", { class: "card kpi" + (o.tone ? " " + o.tone : ""), "data-kpi": o.id || label },
      html("div", { class: "label", text: label }),
      html("div", { class: "value", text: value, "data-value": o.raw !== undefined ? o.raw : "" }),
      html("div", { class: "sub", text: sub || "" }));
    if (o.spark) tile.append(C.sparkline(o.spark, C.color(o.color || 0)));
    return tile;
  }

  function renderKpis(d) {
    const t = d.usage.totals;
    const rec = d.records;
    const m = d.metrics && d.metrics.totals;
    const req = t.requests || 0;
    const errRate = req ? t.errors / req : null;
    const fallbacks = m ? m.fallbacks : rec.filter((r) => (r.attempts || 1) > 1).length;
    const fbRate = m ? m.fallback_rate : rec.length ? fallbacks / rec.length : null;
    const lat = m && m.latency_ms ? m.latency_ms : {
      p50: percentile(rec.map((r) => r.total_ms), 0.5), p95: percentile(rec.map((r) => r.total_ms), 0.95),
      p99: percentile(rec.map((r) => r.total_ms), 0.99),
    };
    const ttftVals = rec.filter((r) => r.ttft_ms !== null && r.ttft_ms !== undefined).map((r) => r.ttft_ms);
    const ttft = m && m.ttft_ms ? m.ttft_ms.p50 : percentile(ttftVals, 0.5);
    const tokens = (t.input_tokens || 0) + (t.output_tokens || 0) + (t.cache_read_tokens || 0) + (t.cache_write_tokens || 0);
    const inflight = d.metrics && d.metrics.in_flight ? d.metrics.in_flight.total : Math.max(0, (d.status.in_flight || 1) - 1);
    const s = d.series;
    $("kpis").replaceChildren(
      kpi("Requests", count(req), `${(req / (state.window / 60)).toFixed(2)}/min`, { id: "requests", raw: req, spark: s.total, color: 0 }),
      kpi("Error rate", pct(errRate), `${t.errors || 0} errors`, { id: "errors", raw: t.errors || 0, tone: errRate > 0.05 ? "bad" : "", spark: s.bad, color: 4 }),
      kpi("Fallback rate", pct(fbRate), `${fallbacks} after a retry`, { id: "fallbacks", raw: fallbacks, tone: fbRate > 0.05 ? "warn" : "" }),
      kpi("Latency p95", ms(lat.p95), `p50 ${ms(lat.p50)} · p99 ${ms(lat.p99)}`, { id: "latency", raw: lat.p95, spark: s.p95, color: 1 }),
      kpi("Time to first token", ms(ttft), ttft === null ? "no streams in window" : "p50 of streams", { id: "ttft", raw: ttft }),
      kpi("Cost", usd(t.cost_usd), t.unpriced_requests ? `${t.unpriced_requests} unpriced` : "exact, usage log", { id: "cost", raw: t.cost_usd || "0" }),
      kpi("Tokens", count(tokens), `in ${count(t.input_tokens)} · out ${count(t.output_tokens)}`, { id: "tokens", raw: tokens }),
      kpi("In flight", String(inflight), `${d.status.workers || 1} worker${d.status.workers > 1 ? "s" : ""}`, { id: "inflight", raw: inflight })
    );
  }

  function renderTraffic(d) {
    const colors = [C.color(0), getComputedStyle(document.documentElement).getPropertyValue("--bad").trim()];
    const drawn = C.timeChart($("chart-traffic"), {
      xs: d.buckets.xs, kind: "bars", label: "requests over time", empty: "No requests in this window yet",
      series: [{ name: "ok", values: d.series.ok, color: colors[0] }, { name: "errors", values: d.series.bad, color: colors[1] }],
      format: count,
    });
    C.legend($("legend-traffic"), drawn.names, drawn.colors);
  }

  function renderLatency(d) {
    C.timeChart($("chart-latency"), {
      xs: d.buckets.xs, kind: "lines", label: "latency percentiles", empty: "No requests in this window yet",
      series: [{ name: "p50", values: d.series.p50 }, { name: "p95", values: d.series.p95 }, { name: "p99", values: d.series.p99 }],
      format: ms,
    });
    let rows;
    if (d.metrics && Array.isArray(d.metrics.models) && d.metrics.models.length) {
      $("latency-source").textContent = `per model, last ${d.metrics.window_minutes} min`;
      rows = d.metrics.models.map((m) => [m.model, m.latency_ms || {}, m.ttft_ms ? m.ttft_ms.p50 : null]);
    } else {
      $("latency-source").textContent = "per model";
      const by = new Map();
      for (const r of d.records) {
        const k = modelOf(r);
        if (!by.has(k)) by.set(k, []);
        by.get(k).push(r);
      }
      rows = [...by.entries()].map(([k, rs]) => {
        const v = rs.map((r) => r.total_ms);
        const tt = rs.map((r) => r.ttft_ms);
        return [k, { p50: percentile(v, 0.5), p95: percentile(v, 0.95), p99: percentile(v, 0.99) }, percentile(tt, 0.5)];
      });
    }
    table($("latency-table"), ["model", "p50", "p95", "p99", "TTFT"],
      rows.slice(0, 6).map(([name, l, tt]) => [cell(name, "trunc"), num(ms(l.p50)), num(ms(l.p95)), num(ms(l.p99)), num(ms(tt))]));
  }

  function renderCost(d) {
    const label = $("dimension").selectedOptions[0].textContent;
    const what = state.metric === "cost" ? "Cost" : "Tokens";
    $("cost-title").textContent = `${what} over time`;
    const series = stackBy(d.records, d.buckets, state.dim, state.metric, d.series.slot, 6);
    const drawn = C.timeChart($("chart-cost"), {
      xs: d.buckets.xs, kind: "bars", series, label: `${what} ${label}`,
      format: state.metric === "cost" ? usd : count,
      empty: state.metric === "cost" ? "No priced requests in this window yet" : "No tokens in this window yet",
    });
    C.legend($("legend-cost"), drawn.names, drawn.colors);
    renderBreakdown(d, label);
  }

  function renderBreakdown(d, label) {
    $("breakdown-title").textContent = `${state.metric === "cost" ? "Spend" : "Tokens"} ${label}`;
    const box = $("breakdown");
    let rows = d.groups;
    if (!rows) {
      const agg = new Map();
      for (const r of d.records) {
        const k = dimOf(r, state.dim);
        const a = agg.get(k) || { requests: 0, cost_usd: 0, tokens: 0 };
        a.requests++;
        a.cost_usd += Number(r.cost_usd || 0);
        a.tokens += tokensOf(r);
        agg.set(k, a);
      }
      rows = [...agg.entries()].map(([name, a]) => ({ name, ...a }));
    }
    const val = (r) => (state.metric === "cost" ? Number(r.cost_usd || 0) : r.tokens);
    rows = rows.filter((r) => r.requests > 0).sort((a, b) => val(b) - val(a) || b.requests - a.requests);
    if (!rows.length) return box.replaceChildren(html("div", { class: "empty", text: d.groupsNote || "No requests in this window yet" }));
    const max = Math.max(...rows.map(val)) || 1;
    box.replaceChildren(...rows.slice(0, 8).map((r, i) => {
      const fill = html("div", { class: "fill" });
      fill.style.width = ((100 * val(r)) / max).toFixed(1) + "%";
      fill.style.background = C.color(i);
      return html("div", { class: "barrow", "data-name": r.name, "data-requests": r.requests },
        html("div", { class: "top-line" }, html("span", { class: "name", text: r.name, title: r.name }),
          html("span", { class: "num", text: `${state.metric === "cost" ? usd(r.cost_usd) : count(r.tokens)} · ${r.requests} req` })),
        html("div", { class: "track" }, fill));
    }), ...(d.groupsNote ? [html("div", { class: "muted small", text: d.groupsNote })] : []));
  }

  function cell(text, cls) { return html("td", { class: cls || "", text: text === null || text === undefined ? "-" : String(text), title: cls === "trunc" ? String(text) : null }); }
  function num(text) { return cell(text, "num"); }
  function table(node, heads, rows, onRow) {
    const head = html("thead", {}, html("tr", {}, ...heads.map((h) => html("th", { text: h, class: /^(p\d+|TTFT|ms|tokens|cost|spans|duration|calls|err|latency|in flight)$/.test(h) ? "num" : "" }))));
    const body = html("tbody", {}, ...rows.map((cells, i) => {
      const tr = html("tr", {}, ...cells);
      if (onRow && onRow[i]) {
        tr.tabIndex = 0;
        tr.classList.add("clickable");
        tr.addEventListener("click", onRow[i]);
        tr.addEventListener("keydown", (e) => { if (e.key === "Enter") onRow[i](); });
      }
      return tr;
    }));
    node.replaceChildren(head, body);
  }
  function badge(text, tone) { return html("span", { class: `badge ${tone}`, text }); }

  function renderLive(d) {
    const rec = d.records.slice(0, 25);
    const note = d.usage.totals.requests > d.records.length ? `charts from the latest ${d.records.length} of ${d.usage.totals.requests}` : "";
    $("live-note").textContent = note || `every ${POLL_MS / 1000} s`;
    if (!rec.length) return $("live-table").replaceChildren(html("tbody", {}, html("tr", {}, html("td", { class: "empty", text: "No requests in this window yet. Send one through the model listener." }))));
    const first = state.seen.size === 0;
    const clicks = rec.map((r) => (r.trace_id && has("/plano/v1/traces/{trace_id}") ? () => openTrace(r.trace_id) : null));
    table($("live-table"), ["time", "model", "status", "latency", "tokens", "cost", "key"], rec.map((r) => {
      const st = r.status || 0;
      const status = html("td", {}, badge(String(st), st >= 500 ? "bad" : st >= 400 ? "warn" : "ok"));
      if ((r.attempts || 1) > 1) status.append(" ", badge(`${r.attempts} tries`, "warn"));
      const model = r.model_requested && r.model_requested !== modelOf(r) ? `${r.model_requested} → ${modelOf(r)}` : modelOf(r);
      return [cell(clock(r.ts)), cell(model, "trunc"), status, num(ms(r.total_ms)), num(count(tokensOf(r))), num(r.cost_usd === null ? "-" : usd(r.cost_usd)), cell(r.principal || "-", "trunc")];
    }), clicks);
    const rows = $("live-table").querySelectorAll("tbody tr");
    rec.forEach((r, i) => {
      if (!first && !state.seen.has(r.request_id)) rows[i].classList.add("fresh");
      state.seen.add(r.request_id);
    });
    if (state.seen.size > 5000) state.seen = new Set(rec.map((r) => r.request_id));
  }

  function renderTraces(d) {
    const note = $("traces-note");
    const node = $("traces-table");
    if (!has("/plano/v1/traces")) {
      note.textContent = "";
      return node.replaceChildren(html("tbody", {}, html("tr", {}, html("td", { class: "empty", text: "Tracing is off or not available on this gateway: no traces to show." }))));
    }
    if (!d.traces.ok) return node.replaceChildren(html("tbody", {}, html("tr", {}, html("td", { class: "empty", text: `Traces unavailable: ${d.traces.error}` }))));
    const list = (d.traces.data && d.traces.data.traces) || [];
    note.textContent = list.length ? "click one to open it" : "";
    if (!list.length) return node.replaceChildren(html("tbody", {}, html("tr", {}, html("td", { class: "empty", text: "No traces in this window yet." }))));
    const max = Math.max(...list.map((t) => t.duration_ms || 0)) || 1;
    table(node, ["time", "trace", "duration", "spans", "cost"], list.slice(0, 30).map((t) => {
      const bar = html("div", { class: "mini" }, html("div"));
      bar.firstChild.style.width = ((100 * (t.duration_ms || 0)) / max).toFixed(1) + "%";
      if (t.errors) bar.firstChild.style.background = "var(--bad)";
      const name = html("td", { class: "trunc", title: `${t.root_name || ""} ${t.trace_id}` },
        html("div", { text: t.root_name || t.trace_id }), html("div", { class: "muted small", text: [t.model, t.service].filter(Boolean).join(" · ") }));
      const dur = html("td", { class: "num" }, html("div", { text: ms(t.duration_ms) }), bar);
      const status = t.errors || t.status === "error" ? badge(`${t.errors || 1} err`, "bad") : null;
      const spans = html("td", { class: "num" }, String(t.span_count || 0), status ? " " : "", status || "");
      return [cell(clock(t.started_at)), name, dur, spans, num(t.cost === null || t.cost === undefined ? "-" : usd(t.cost))];
    }), list.map((t) => () => openTrace(t.trace_id)));
    node.querySelectorAll("tbody tr").forEach((tr, i) => tr.setAttribute("data-trace-id", list[i].trace_id));
  }

  function renderBudgets(d) {
    const box = $("budgets");
    if (!d.budgets.ok) return box.replaceChildren(html("div", { class: "empty", text: `Budgets unavailable: ${d.budgets.error}` }));
    const rows = (d.budgets.data && d.budgets.data.budgets) || [];
    if (!rows.length) return box.replaceChildren(html("div", { class: "empty", text: "No budgets configured (budgets: in the config)." }));
    box.replaceChildren(...rows.map((b) => {
      const usdLimit = b.usd !== null && b.usd !== undefined ? Number(b.usd) : null;
      const limit = usdLimit !== null ? usdLimit : b.tokens;
      const used = usdLimit !== null ? Number(b.used_usd || 0) : b.used_tokens || 0;
      const held = usdLimit !== null ? Number(b.held_usd || 0) : b.held_tokens || 0;
      const f = usdLimit !== null ? usd : count;
      const sub = `${b.scope === "global" ? "global" : "per " + b.scope} · ${b.period}${b.resets_at ? " · resets " + new Date(b.resets_at).toLocaleDateString() : ""}`;
      const known = b.used_usd !== undefined || b.used_tokens !== undefined;
      const track = html("div", { class: "track" });
      if (known && limit) {
        const u = html("div", { class: "fill" + (used / limit > 0.9 ? " bad" : "") });
        u.style.width = Math.min(100, (100 * used) / limit).toFixed(1) + "%";
        const h = html("div", { class: "fill held", title: "held by requests in flight" });
        h.style.width = Math.min(100, (100 * held) / limit).toFixed(1) + "%";
        track.append(u, h);
      }
      return html("div", { class: "barrow", "data-budget": b.name },
        html("div", { class: "top-line" }, html("span", { class: "name", text: b.name }),
          html("span", { class: "num", text: known ? `${f(used)} of ${f(limit)}${held ? ` (+${f(held)} held)` : ""}` : `limit ${f(limit)}` })),
        track, html("div", { class: "muted small", text: known ? sub : sub + " · per value: plano keys / ?value=" }));
    }));
  }

  function renderRouting(d) {
    const node = $("routing-table");
    const deps = d.routing.ok && d.routing.data ? d.routing.data.deployments || [] : [];
    if (!deps.length) return node.replaceChildren(html("tbody", {}, html("tr", {}, html("td", { class: "empty", text: d.routing.ok ? "No deployments called yet." : `Unavailable: ${d.routing.error}` }))));
    table(node, ["deployment", "calls", "err", "latency", "TTFT"], deps.map((x) => {
      const tone = x.breaker === "open" ? "bad" : x.breaker === "closed" && !(x.cooling_s > 0) ? "ok" : "warn";
      const name = html("td", { class: "trunc", title: `${x.deployment}: breaker ${x.breaker}${x.cooling_s > 0 ? `, cooling ${x.cooling_s}s` : ""}` },
        html("span", { class: `dot ${tone}` }), " ", x.deployment);
      return [name, num(x.calls_in_window), num(pct(x.error_rate)), num(ms(x.duration_ms)), num(ms(x.ttft_ms))];
    }));
  }

  function renderStatus(d) {
    const s = d.status;
    const pills = [
      html("span", { class: "pill" }, html("span", { class: `dot ${s.state === "ready" ? "ok" : "warn"}` }), html("b", { text: s.state || "?" }), `generation ${s.generation}`),
      html("span", { class: "pill", text: `up ${ago(s.uptime_s || 0)}` }),
    ];
    for (const [name, st] of Object.entries(s.stores || {})) {
      pills.push(html("span", { class: "pill", title: `${st.backend} ${st.target || ""}: ${st.status}${st.reason ? " (" + st.reason + ")" : ""}` },
        html("span", { class: `dot ${st.status === "ok" ? "ok" : "bad"}` }), `${name} ${st.backend}`));
    }
    if (s.writer && s.writer.dropped) pills.push(html("span", { class: "pill" }, html("span", { class: "dot bad" }), `${s.writer.dropped} usage records dropped`));
    $("status").replaceChildren(...pills);
  }

  function renderSignals(d) {
    const box = $("signals");
    const agg = d.signals;
    if (!agg || !agg.total) {
      $("signals-note").textContent = "";
      let why = "No conversations analysed yet.";
      if (agg && agg.enabled === false) why = "Signals are off (overrides.disable_signals).";
      else if (!agg) why = "Signals appear here once the signals endpoint or tracing is on.";
      return box.replaceChildren(html("div", { class: "empty", text: why }));
    }
    $("signals-note").textContent = `${agg.total} analysed${agg.flagged !== undefined ? ` · ${agg.flagged} flagged` : ""}`;
    const bar = html("div", { class: "quality", role: "img", "aria-label": "quality bands" });
    for (const q of QUALITIES) {
      if (!agg.quality[q]) continue;
      const part = html("div", { class: `q-${q}`, title: `${q}: ${agg.quality[q]}` });
      part.style.width = ((100 * agg.quality[q]) / agg.total).toFixed(1) + "%";
      bar.append(part);
    }
    const legend = html("div", { class: "legend wrap" }, ...QUALITIES.filter((q) => agg.quality[q]).map((q) => html("span", { "data-quality": q, "data-value": agg.quality[q] }, html("span", { class: `sw q-${q}` }), `${q} ${agg.quality[q]}`)));
    const cats = Object.entries(agg.categories).filter((e) => e[1] > 0).sort((a, b) => b[1] - a[1]).slice(0, 7);
    const score = agg.score === null ? "-" : agg.score.toFixed(0);
    const kids = [html("div", { class: "kv" }, html("span", { class: "muted", text: "mean quality score (0-100)" }), html("b", { class: "num", text: score, "data-value": score })), bar, legend];
    if (cats.length) {
      const t = html("table", { class: "table compact" });
      table(t, ["signal", "count"], cats.map(([k, v]) => [cell(k), num(v)]));
      kids.push(t);
    }
    const flagged = (agg.recent || []).slice(0, 5);
    if (flagged.length) {
      const t = html("table", { class: "table compact" });
      const opens = flagged.map((f) => (f.trace_id && has("/plano/v1/traces/{trace_id}") ? () => openTrace(f.trace_id) : null));
      table(t, ["flagged", "quality", "time"], flagged.map((f) => [
        cell((f.types || []).map((x) => x.split(".").pop()).join(", ") || "-", "trunc"),
        html("td", {}, badge(f.quality, f.quality === "severe" ? "bad" : "warn")), cell(clock(f.at)),
      ]), opens);
      kids.push(t);
    }
    box.replaceChildren(...kids);
  }

  // ---------------------------------------------------------------- signals

  function fromSummary(d) {
    const cats = {};
    for (const [k, v] of Object.entries(d.categories || {})) cats[k] = v && typeof v === "object" ? v.signals || 0 : Number(v) || 0;
    const quality = d.quality || {};
    const counted = Object.values(quality).reduce((a, b) => a + b, 0);
    return {
      enabled: d.enabled !== false, total: (d.window && d.window.requests) || counted, quality,
      score: d.quality_score && typeof d.quality_score.mean === "number" ? d.quality_score.mean : null,
      categories: cats, flagged: d.flagged, recent: d.recent_flagged || [],
    };
  }

  function addSignals(agg, attrs) {
    const q = attrs["signals.quality"];
    if (!q) return;
    agg.total++;
    agg.quality[q] = (agg.quality[q] || 0) + 1;
    const s = Number(attrs["signals.quality_score"]);
    if (!Number.isNaN(s)) agg.scores.push(s);
    for (const [k, v] of Object.entries(attrs)) {
      const m = /^signals\.(\w+\.\w+)\.count$/.exec(k);
      if (m && Number(v) > 0) agg.categories[m[1]] = (agg.categories[m[1]] || 0) + Number(v);
    }
  }

  async function signalsSummary(traces) {
    if (has("/plano/v1/signals/summary")) {
      const r = await get("/plano/v1/signals/summary?recent=5");
      return r.ok && r.data ? fromSummary(r.data) : null;
    }
    if (!traces.ok || !has("/plano/v1/traces/{trace_id}")) return null;
    // Without the summary endpoint: the signals.* attributes of the latest traces. Finished
    // traces do not change, so each is fetched once.
    const agg = { total: 0, quality: {}, scores: [], categories: {}, recent: [] };
    const list = ((traces.data && traces.data.traces) || []).slice(0, 10);
    for (const t of list) {
      if (!state.traceCache.has(t.trace_id)) {
        const r = await get(`/plano/v1/traces/${encodeURIComponent(t.trace_id)}`);
        if (r.ok) state.traceCache.set(t.trace_id, r.data);
      }
      const tr = state.traceCache.get(t.trace_id);
      for (const sp of (tr && tr.spans) || []) addSignals(agg, sp.attributes || {});
    }
    if (state.traceCache.size > 200) state.traceCache.clear();
    agg.score = agg.scores.length ? agg.scores.reduce((a, b) => a + b, 0) / agg.scores.length : null;
    return agg;
  }

  // ---------------------------------------------------------------- trace waterfall

  async function openTrace(id) {
    const dialog = $("trace-dialog");
    $("trace-title").textContent = "Trace";
    $("trace-sub").textContent = id;
    $("waterfall").replaceChildren(html("div", { class: "empty", text: "Loading…" }));
    $("span-detail").replaceChildren();
    if (!dialog.open) dialog.showModal();
    let r;
    try {
      r = await get(`/plano/v1/traces/${encodeURIComponent(id)}`);
    } catch (err) {
      dialog.close();
      return signOut(err.message);
    }
    if (!r.ok) return $("waterfall").replaceChildren(html("div", { class: "empty", text: `This trace is not available: ${r.error}` }));
    drawWaterfall(r.data);
  }

  function spanTree(spans) {
    const ids = new Set(spans.map((s) => s.span_id));
    const kids = new Map();
    for (const s of spans) {
      const p = s.parent_id && ids.has(s.parent_id) ? s.parent_id : null;
      if (!kids.has(p)) kids.set(p, []);
      kids.get(p).push(s);
    }
    for (const list of kids.values()) list.sort((a, b) => a.start_ns - b.start_ns);
    const out = [];
    const walk = (parent, depth) => {
      for (const s of kids.get(parent) || []) {
        out.push([s, depth]);
        if (depth < 40) walk(s.span_id, depth + 1);
      }
    };
    walk(null, 0);
    return out;
  }

  function drawWaterfall(trace) {
    const spans = (trace && trace.spans) || [];
    const box = $("waterfall");
    if (!spans.length) return box.replaceChildren(html("div", { class: "empty", text: "This trace has no spans." }));
    const t0 = Math.min(...spans.map((s) => s.start_ns));
    const t1 = Math.max(...spans.map((s) => s.end_ns || s.start_ns));
    const total = Math.max(t1 - t0, 1);
    const rows = spanTree(spans);
    const services = [...new Set(spans.map((s) => s.service || ""))];
    const root = rows[0][0];
    $("trace-title").textContent = root.name;
    $("trace-sub").textContent = `${trace.trace_id} · ${ms(total / 1e6)} · ${spans.length} spans · ${services.filter(Boolean).join(", ")}`;
    const axis = html("div", { class: "wf-axis" });
    for (let k = 0; k <= 4; k++) {
      const tick = html("span", { text: ms((total * k) / 4 / 1e6), class: k === 0 ? "first" : k === 4 ? "last" : "" });
      tick.style.left = k * 25 + "%";
      axis.append(tick);
    }
    const parts = [html("div", { class: "wf-axis-pad" }), axis];
    rows.forEach(([s, depth], i) => {
      const err = s.status === "error" || s.status === "ERROR" || (s.status && s.status.code === "ERROR");
      const name = html("div", { class: "wf-name", title: s.name, "data-span": s.span_id },
        html("span", { text: s.name }), html("span", { class: "svc", text: s.service || "" }));
      name.style.paddingLeft = depth * 14 + "px";
      const lane = html("div", { class: "wf-lane", "data-span": s.span_id });
      const left = ((s.start_ns - t0) / total) * 100;
      const width = (((s.end_ns || s.start_ns) - s.start_ns) / total) * 100;
      const bar = html("div", { class: "wf-bar" + (err ? " err" : ""), "data-span": s.span_id });
      bar.style.left = left.toFixed(2) + "%";
      bar.style.width = Math.max(width, 0.3).toFixed(2) + "%";
      if (!err) bar.style.background = C.color(services.indexOf(s.service || ""));
      const label = html("span", { class: "wf-label", text: ms(((s.end_ns || s.start_ns) - s.start_ns) / 1e6) });
      if (left + width > 80) { label.style.right = (100 - left + 0.5).toFixed(2) + "%"; } else { label.style.left = (left + width + 0.5).toFixed(2) + "%"; }
      lane.append(bar, label);
      const pick = () => selectSpan(s, [name, lane], t0);
      name.addEventListener("click", pick);
      lane.addEventListener("click", pick);
      parts.push(name, lane);
      if (i === 0) state.selectedSpan = null;
    });
    box.replaceChildren(...parts);
    const first = rows.find(([s]) => s.status === "error") || rows[0];
    selectSpan(first[0], [...box.querySelectorAll(`[data-span="${CSS.escape(first[0].span_id)}"]`)].filter((n) => !n.classList.contains("wf-bar")), t0);
  }

  function selectSpan(s, nodes, t0) {
    document.querySelectorAll(".wf-row-selected").forEach((n) => n.classList.remove("wf-row-selected"));
    nodes.forEach((n) => n.classList.add("wf-row-selected"));
    const rows = [
      ["span", s.name], ["service", s.service], ["kind", s.kind],
      ["status", typeof s.status === "object" ? JSON.stringify(s.status) : s.status],
      ["start", `+${ms((s.start_ns - t0) / 1e6)}`], ["duration", ms(((s.end_ns || s.start_ns) - s.start_ns) / 1e6)],
      ["span id", s.span_id],
    ];
    const attrs = Object.entries(s.attributes || {}).sort((a, b) => a[0].localeCompare(b[0]));
    for (const [k, v] of attrs) rows.push([k, typeof v === "object" ? JSON.stringify(v) : String(v)]);
    for (const e of s.events || []) rows.push([`event +${ms(((e.time_ns || e.ts_ns || s.start_ns) - t0) / 1e6)}`, `${e.name}${e.attributes ? " " + JSON.stringify(e.attributes) : ""}`]);
    const t = html("table", { class: "table compact" });
    t.append(html("tbody", {}, ...rows.map(([k, v]) => html("tr", {}, cell(k), cell(v)))));
    $("span-detail").replaceChildren(t);
  }

  // ---------------------------------------------------------------- refresh

  async function load() {
    const now = Date.now() / 1000;
    const since = Math.floor(now - state.window);
    if (!state.features) {
      const f = await get("/plano/v1/dashboard/features");
      state.features = new Set(f.ok ? f.data.endpoints : []);
    }
    // First and alone: its in_flight then counts only this request.
    const status = await get("/plano/v1/status");
    const minutes = Math.round(state.window / 60);
    const groupBy = state.dim === "model" ? "provider,model" : state.dim;
    const [usage, groups, metrics, routing, budgets, traces] = await Promise.all([
      get(`/plano/v1/usage?since=${since}&limit=1000`),
      get(`/plano/v1/usage?since=${since}&limit=0&group_by=${groupBy}`),
      has("/plano/v1/metrics/summary") && minutes <= 60 ? get(`/plano/v1/metrics/summary?minutes=${minutes}`) : null,
      get("/plano/v1/routing"),
      get("/plano/v1/budgets"),
      has("/plano/v1/traces") ? get(`/plano/v1/traces?limit=30&since=${since}`) : { ok: false, error: "not available" },
    ]);
    if (!usage.ok) throw new Error(`usage: ${usage.error}`);
    const records = usage.data.recent || [];
    const b = buckets(now, state.window);
    let groupRows = null;
    let groupsNote = "";
    if (groups.ok) {
      groupRows = (groups.data.groups || []).map((g) => ({
        ...g, name: state.dim === "model" ? (g.model ? `${g.provider}/${g.model}` : "(no model)") : dimOf(g, state.dim),
        tokens: (g.input_tokens || 0) + (g.output_tokens || 0) + (g.cache_read_tokens || 0) + (g.cache_write_tokens || 0),
      }));
    } else {
      groupsNote = `This gateway's usage log does not record ${state.dim} yet.`;
    }
    return {
      status: status.ok ? status.data : {}, usage: usage.data, records, buckets: b,
      series: seriesFrom(records, b), groups: groupRows, groupsNote,
      metrics: metrics && metrics.ok ? metrics.data : null, routing, budgets, traces,
      signals: await signalsSummary(traces),
    };
  }

  function render(d) {
    const steps = [renderStatus, renderKpis, renderTraffic, renderLatency, renderCost, renderLive, renderTraces, renderBudgets, renderRouting, renderSignals];
    for (const step of steps) {
      try { step(d); } catch (err) { console.warn("panel failed", step.name, err); }
    }
    $("foot").textContent = `Updated ${new Date().toLocaleTimeString()} · window ${$("window").selectedOptions[0].textContent}`;
  }

  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    try {
      const d = await load();
      state.last = d;
      render(d);
      $("banner").hidden = !!sessionStorage.getItem(KEY) || !has("/plano/v1/status");
    } catch (err) {
      if (err instanceof Unauthorized) return signOut(err.message);
      $("foot").textContent = `Refresh failed: ${err.message}`;
    } finally {
      state.busy = false;
    }
  }

  function schedule() {
    clearInterval(state.timer);
    state.timer = setInterval(() => {
      if (!state.paused && !document.hidden && !$("trace-dialog").open) refresh();
    }, POLL_MS);
  }

  // ---------------------------------------------------------------- sign-in, controls

  function signOut(reason) {
    sessionStorage.removeItem(KEY);
    clearInterval(state.timer);
    state.features = null;
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = reason || "";
    $("admin-key").focus();
  }

  async function signIn(key) {
    if (key) sessionStorage.setItem(KEY, key);
    else sessionStorage.removeItem(KEY);
    try {
      const r = await get("/plano/v1/status");
      if (!r.ok) {
        $("login-error").textContent = r.error;
        return;
      }
    } catch (err) {
      sessionStorage.removeItem(KEY);
      $("login-error").textContent = err.message;
      return;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("banner").textContent = "No admin key set: this gateway's admin API is open to programs on this machine (set gateway.admin_key).";
    await refresh();
    schedule();
  }

  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME, theme);
    if (state.last) render(state.last);
  }

  function wire() {
    const saved = localStorage.getItem(THEME);
    document.documentElement.dataset.theme = saved || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      $("login-error").textContent = "";
      signIn($("admin-key").value.trim());
      $("admin-key").value = "";
    });
    $("logout").addEventListener("click", () => signOut(""));
    $("theme").addEventListener("click", () => applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
    $("window").addEventListener("change", (e) => { state.window = Number(e.target.value); refresh(); });
    $("dimension").addEventListener("change", (e) => { state.dim = e.target.value; refresh(); });
    for (const b of document.querySelectorAll("[data-metric]")) {
      b.addEventListener("click", () => {
        state.metric = b.dataset.metric;
        document.querySelectorAll("[data-metric]").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
        if (state.last) renderCost(state.last);
      });
    }
    $("pause").addEventListener("click", () => {
      state.paused = !state.paused;
      $("pause").setAttribute("aria-pressed", String(state.paused));
      $("pause-label").textContent = state.paused ? "Paused" : "Live";
    });
    $("trace-close").addEventListener("click", () => $("trace-dialog").close());
    document.addEventListener("visibilitychange", () => { if (!document.hidden && !state.paused && !$("app").hidden) refresh(); });
    let resize = null;
    window.addEventListener("resize", () => {
      clearTimeout(resize);
      resize = setTimeout(() => { if (state.last) render(state.last); }, 150);
    });
    if (sessionStorage.getItem(KEY)) signIn(sessionStorage.getItem(KEY));
    else { $("login").hidden = false; $("admin-key").focus(); }
  }

  wire();
})();
