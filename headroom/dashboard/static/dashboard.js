// Headroom savings dashboard: reads /stats-history and draws cards, SVG charts and tables. No dependencies.
(function () {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const params = new URLSearchParams(window.location.search);
  const REFRESH_SECONDS = Math.max(2, Number(params.get("refresh")) || 30);
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const state = { doc: null, series: "daily" };

  const $ = (selector) => document.querySelector(selector);

  // ---- formatting -------------------------------------------------------------------------------------------
  function compact(value) {
    const abs = Math.abs(value);
    const units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
    for (const [size, suffix] of units) {
      if (abs >= size) {
        const scaled = value / size;
        const digits = Math.abs(scaled) >= 100 ? 0 : Math.abs(scaled) >= 10 ? 1 : 2;
        return String(Number(scaled.toFixed(digits))) + suffix;
      }
    }
    return String(Math.round(value));
  }
  const integer = (value) => Math.round(value).toLocaleString("en-US");
  function money(value) {
    const digits = Math.abs(value) >= 1000 ? 0 : Math.abs(value) >= 0.01 || value === 0 ? 2 : 4;
    return "$" + value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  const pct = (value) => (Math.round(value * 10) / 10).toFixed(1) + "%";
  function utcDate(iso) {
    const d = new Date(iso);
    return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
  }
  function periodLabel(row, series, long) {
    const d = new Date(row.start);
    const month = MONTHS[d.getUTCMonth()];
    if (series === "monthly") return long ? `${month} ${d.getUTCFullYear()}` : month;
    if (series === "weekly") return long ? `${row.period} (from ${month} ${d.getUTCDate()})` : `${month} ${d.getUTCDate()}`;
    if (series === "hourly") return `${String(d.getUTCHours()).padStart(2, "0")}:00`;
    return long ? utcDate(row.start) : `${month} ${d.getUTCDate()}`;
  }

  // ---- SVG charts -------------------------------------------------------------------------------------------
  function svgEl(tag, attrs, style) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (style) node.setAttribute("style", style);
    return node;
  }

  function niceMax(max) {
    if (!(max > 0)) return 1;
    const magnitude = Math.pow(10, Math.floor(Math.log10(max)));
    for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
      if (step * magnitude >= max) return step * magnitude;
    }
    return 10 * magnitude;
  }

  // cfg: {labels, series: [{key, name, color, values, kind: "bar"|"line"|"area"}], stacked, yFormat, yMax,
  //       times (optional numeric x positions), tooltipTitle(i), height}
  function drawChart(container, cfg) {
    container.textContent = "";
    const n = cfg.labels.length;
    container.dataset.points = String(n);
    const width = Math.max(280, container.clientWidth || 600);
    const height = cfg.height || 240;
    const margin = { left: 58, right: 14, top: 10, bottom: 26 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img" });
    svg.setAttribute("aria-label", cfg.title || "chart");
    container.appendChild(svg);
    if (n === 0) {
      svg.appendChild(svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "fill: var(--muted)"))
        .textContent = "No data for this period";
      return;
    }

    let top = cfg.yMax || 0;
    if (!cfg.yMax) {
      for (let i = 0; i < n; i++) {
        if (cfg.stacked) top = Math.max(top, cfg.series.reduce((sum, s) => sum + s.values[i], 0));
        else for (const s of cfg.series) top = Math.max(top, s.values[i] || 0);
      }
      top = niceMax(top);
    }
    const y = (value) => margin.top + plotH - (value / top) * plotH;
    const band = plotW / n;
    const t0 = cfg.times ? cfg.times[0] : 0;
    const span = cfg.times ? Math.max(1, cfg.times[n - 1] - t0) : 1;
    const x = (i) => margin.left + (cfg.times ? ((cfg.times[i] - t0) / span) * plotW : band * (i + 0.5));

    const grid = svg.appendChild(svgEl("g", { class: "grid" }));
    const axis = svg.appendChild(svgEl("g", { class: "axis" }));
    for (let k = 0; k <= 4; k++) {
      const value = (top * k) / 4;
      grid.appendChild(svgEl("line", { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value) }));
      const label = axis.appendChild(svgEl("text", { x: margin.left - 8, y: y(value) + 4, "text-anchor": "end" }));
      label.textContent = cfg.yFormat(value);
    }
    const labelCount = Math.min(n, Math.max(2, Math.floor(plotW / 90)));
    const shown = new Set();
    for (let k = 0; k < labelCount; k++) shown.add(Math.round((k * (n - 1)) / Math.max(1, labelCount - 1)));
    for (const i of shown) {
      const anchor = n === 1 ? "middle" : i === 0 ? "start" : i === n - 1 ? "end" : "middle";
      const label = axis.appendChild(svgEl("text", { x: x(i), y: height - 6, "text-anchor": anchor }));
      label.textContent = cfg.labels[i];
    }

    const barWidth = Math.max(1, Math.min(42, band * 0.72));
    const base = new Array(n).fill(0);
    for (const s of cfg.series) {
      if (s.kind === "bar") {
        const group = svg.appendChild(svgEl("g", { class: `bars ${s.key}` }));
        for (let i = 0; i < n; i++) {
          const from = cfg.stacked ? base[i] : 0;
          const to = from + s.values[i];
          if (cfg.stacked) base[i] = to;
          const h = Math.max(0, y(from) - y(to));
          group.appendChild(svgEl("rect", {
            class: `bar ${s.key}`, x: x(i) - barWidth / 2, y: y(to), width: barWidth, height: h,
            rx: Math.min(3, barWidth / 3), "data-value": s.values[i],
          }, `fill: ${s.color}`));
        }
        continue;
      }
      // A null value (a period without requests) breaks the line instead of dropping it to zero.
      for (const run of runs(s.values)) {
        const points = run.map((i) => `${x(i).toFixed(1)},${y(s.values[i]).toFixed(1)}`);
        const first = x(run[0]).toFixed(1);
        const last = x(run[run.length - 1]).toFixed(1);
        if (s.kind === "area") {
          const area = `M${first},${y(0)} L${points.join(" L")} L${last},${y(0)} Z`;
          svg.appendChild(svgEl("path", { class: `area ${s.key}`, d: area }, `fill: ${s.color}; opacity: 0.16`));
        }
        svg.appendChild(svgEl("path", { class: `line ${s.key}`, d: "M" + points.join(" L") },
          `fill: none; stroke: ${s.color}; stroke-width: 2.2; stroke-linejoin: round; stroke-linecap: round`));
      }
      if (n <= 60) {
        for (let i = 0; i < n; i++) {
          if (s.values[i] === null) continue;
          svg.appendChild(svgEl("circle", { class: `dot ${s.key}`, cx: x(i), cy: y(s.values[i]), r: 2.6 },
            `fill: ${s.color}`));
        }
      }
    }
    addHover(container, svg, cfg, x, { margin, width, height, n });
  }

  function runs(values) {
    const found = [];
    let current = [];
    values.forEach((value, i) => {
      if (value === null) {
        if (current.length) found.push(current);
        current = [];
      } else {
        current.push(i);
      }
    });
    if (current.length) found.push(current);
    return found;
  }

  function addHover(container, svg, cfg, x, box) {
    const guide = svg.appendChild(svgEl("line", { class: "guide", y1: box.margin.top, y2: box.height - box.margin.bottom }));
    const tip = document.createElement("div");
    tip.className = "tooltip";
    tip.hidden = true;
    container.appendChild(tip);
    const overlay = svg.appendChild(svgEl("rect", {
      class: "hover-target", x: box.margin.left, y: box.margin.top,
      width: box.width - box.margin.left - box.margin.right, height: box.height - box.margin.top - box.margin.bottom,
    }));
    overlay.addEventListener("mousemove", (event) => {
      const rect = svg.getBoundingClientRect();
      const px = ((event.clientX - rect.left) / rect.width) * box.width;
      let best = 0;
      for (let i = 1; i < box.n; i++) if (Math.abs(x(i) - px) < Math.abs(x(best) - px)) best = i;
      guide.setAttribute("x1", x(best));
      guide.setAttribute("x2", x(best));
      guide.style.opacity = "1";
      tip.textContent = "";
      const title = document.createElement("b");
      title.textContent = cfg.tooltipTitle(best);
      tip.appendChild(title);
      for (const s of cfg.series) {
        const line = document.createElement("div");
        const name = document.createElement("span");
        name.textContent = s.name;
        const value = document.createElement("strong");
        value.textContent = s.values[best] === null ? "—" : cfg.yFormat(s.values[best]);
        line.append(name, value);
        tip.appendChild(line);
      }
      for (const [name, text] of (cfg.tooltipExtra ? cfg.tooltipExtra(best) : [])) {
        const line = document.createElement("div");
        const label = document.createElement("span");
        label.textContent = name;
        const value = document.createElement("strong");
        value.textContent = text;
        line.append(label, value);
        tip.appendChild(line);
      }
      tip.hidden = false;
      const scale = rect.width / box.width;
      const left = x(best) * scale + 14;
      tip.style.left = `${Math.min(left, rect.width - tip.offsetWidth - 4)}px`;
      tip.style.top = `${box.margin.top}px`;
    });
    overlay.addEventListener("mouseleave", () => {
      tip.hidden = true;
      guide.style.opacity = "0";
    });
  }

  // ---- page sections ----------------------------------------------------------------------------------------
  function setCard(id, value, text, sub, extra) {
    const card = document.getElementById(id);
    const valueEl = card.querySelector(".value");
    valueEl.textContent = text;
    valueEl.dataset.value = String(value);
    for (const [key, val] of Object.entries(extra || {})) valueEl.dataset[key] = String(val);
    card.querySelector(".sub").textContent = sub;
    const meter = card.querySelector(".meter span");
    if (meter) meter.style.width = `${Math.max(0, Math.min(100, value))}%`;
  }

  function renderCards(life) {
    setCard("card-tokens-saved", life.tokens_saved, compact(life.tokens_saved),
      `of ${compact(life.tokens_before)} prompt tokens`);
    setCard("card-savings-percent", life.savings_percent, pct(life.savings_percent),
      `${compact(life.tokens_before)} → ${compact(life.tokens_after)} tokens`);
    setCard("card-cost", life.cost_usd, money(life.cost_usd), `vs ${money(life.cost_without_usd)} without Headroom`,
      { without: life.cost_without_usd });
    const share = life.cost_without_usd > 0 ? (100 * life.cost_saved_usd) / life.cost_without_usd : 0;
    setCard("card-money-saved", life.cost_saved_usd, money(life.cost_saved_usd), `${pct(share)} off the bill`);
    setCard("card-requests", life.requests, integer(life.requests),
      life.first_request_at ? `since ${utcDate(life.first_request_at)}` : "");
    setCard("card-cache", life.cache_hit_percent, pct(life.cache_hit_percent),
      `${compact(life.cache_read_tokens)} cached tokens · ${integer(life.response_cache_hits)} response hits`);
  }

  function renderSeriesCharts(doc) {
    const series = state.series;
    const rows = doc.rollups[series] || [];
    const labels = rows.map((row) => periodLabel(row, series, false));
    const title = (i) => periodLabel(rows[i], series, true);
    const tokens = $("#chart-tokens");
    tokens.dataset.series = series;
    drawChart(tokens, {
      title: "Tokens per period", labels, stacked: true, yFormat: compact, tooltipTitle: title, height: 270,
      series: [
        { key: "sent", name: "Sent", color: "var(--sent)", kind: "bar", values: rows.map((r) => r.tokens_after) },
        { key: "saved", name: "Saved", color: "var(--saved)", kind: "bar", values: rows.map((r) => r.tokens_saved) },
      ],
      tooltipExtra: (i) => [["Saved %", pct(rows[i].savings_percent)], ["Requests", integer(rows[i].requests)]],
    });
    const cost = $("#chart-cost");
    cost.dataset.series = series;
    drawChart(cost, {
      title: "Cost per period", labels, yFormat: money, tooltipTitle: title,
      series: [
        { key: "without", name: "Without", color: "var(--without)", kind: "area",
          values: rows.map((r) => r.cost_without_usd) },
        { key: "with", name: "With Headroom", color: "var(--with)", kind: "area", values: rows.map((r) => r.cost_usd) },
      ],
      tooltipExtra: (i) => [["Saved", money(rows[i].cost_saved_usd)]],
    });
    const cache = $("#chart-cache");
    cache.dataset.series = series;
    drawChart(cache, {
      title: "Prompt cache hit rate", labels, yMax: 100, yFormat: (v) => `${Math.round(v)}%`, tooltipTitle: title,
      series: [{ key: "cache", name: "Hit rate", color: "var(--cache)", kind: "area",
        values: rows.map((r) => (r.requests ? r.cache_hit_percent : null)) }],
      tooltipExtra: (i) => [["Response hits", integer(rows[i].response_cache_hits)]],
    });
    for (const button of document.querySelectorAll(".segmented button")) {
      button.setAttribute("aria-pressed", String(button.dataset.series === series));
    }
    $("#export-csv").href = `/stats-history?format=csv&series=${series}`;
  }

  function renderCumulative(doc) {
    const points = doc.checkpoints;
    drawChart($("#chart-cumulative"), {
      title: "Lifetime tokens saved", height: 300, labels: points.map((p) => utcDate(p.timestamp).replace(/, \d+$/, "")),
      times: points.map((p) => Date.parse(p.timestamp)), yFormat: compact,
      tooltipTitle: (i) => `${utcDate(points[i].timestamp)} ${points[i].timestamp.slice(11, 16)} UTC`,
      series: [{ key: "cumulative", name: "Tokens saved", color: "var(--saved)", kind: "area",
        values: points.map((p) => p.tokens_saved) }],
      tooltipExtra: (i) => [["Requests", integer(points[i].requests)], ["Money saved", money(points[i].cost_saved_usd)]],
    });
    const summary = doc.history_summary;
    $("#checkpoint-hint").textContent =
      `${integer(summary.returned_checkpoints)} of ${integer(summary.stored_checkpoints)} checkpoints`;
  }

  function renderModels(models) {
    const body = $("#models-table tbody");
    body.textContent = "";
    for (const model of models) {
      const row = body.insertRow();
      const name = row.insertCell();
      name.className = "model";
      name.textContent = model.model;
      const provider = document.createElement("small");
      provider.textContent = model.provider;
      name.appendChild(provider);
      row.insertCell().textContent = integer(model.requests);
      row.insertCell().textContent = compact(model.tokens_saved);
      const saved = row.insertCell();
      const cell = document.createElement("div");
      cell.className = "bar-cell";
      const meter = document.createElement("div");
      meter.className = "meter";
      const fill = document.createElement("span");
      fill.style.width = `${Math.min(100, model.savings_percent)}%`;
      meter.appendChild(fill);
      const text = document.createElement("span");
      text.textContent = pct(model.savings_percent);
      cell.append(meter, text);
      saved.appendChild(cell);
      row.insertCell().textContent = money(model.cost_saved_usd);
    }
  }

  function renderEmpty() {
    const origin = window.location.origin;
    $("#empty-howto").textContent =
      `# Claude Code / Anthropic SDKs\nexport ANTHROPIC_BASE_URL=${origin}\n\n` +
      `# Codex CLI / OpenAI SDKs\nexport OPENAI_BASE_URL=${origin}/v1`;
  }

  function render() {
    const doc = state.doc;
    if (!doc) return;
    const empty = doc.lifetime.requests === 0;
    $("#empty-state").hidden = !empty;
    $("#content").hidden = empty;
    document.body.dataset.state = empty ? "empty" : "ready";
    const summary = doc.history_summary;
    $("#footer").textContent = empty ? "" :
      `History since ${utcDate(doc.lifetime.first_request_at)} · ${integer(doc.lifetime.requests)} requests · ` +
      `${summary.mode} view · generated ${doc.generated_at.replace("T", " ").replace("Z", " UTC")}`;
    if (empty) {
      renderEmpty();
      return;
    }
    renderCards(doc.lifetime);
    renderSeriesCharts(doc);
    renderCumulative(doc);
    renderModels(doc.top_models);
  }

  // ---- data and lifecycle -----------------------------------------------------------------------------------
  async function refresh() {
    const banner = $("#error-banner");
    try {
      const response = await fetch("/stats-history", { cache: "no-store", headers: { accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      state.doc = await response.json();
      banner.hidden = true;
      $("#status").classList.remove("stale");
      const now = new Date();
      $("#status-text").textContent =
        `Updated ${now.toISOString().slice(11, 19)} UTC · refreshes every ${REFRESH_SECONDS} s`;
      render();
    } catch (error) {
      banner.hidden = false;
      banner.textContent = `Could not load /stats-history (${error.message}); retrying in ${REFRESH_SECONDS} s.`;
      $("#status").classList.add("stale");
      $("#status-text").textContent = "Disconnected";
    }
  }

  function applyTheme(theme) {
    if (theme) document.documentElement.dataset.theme = theme;
  }

  function currentTheme() {
    const chosen = document.documentElement.dataset.theme;
    if (chosen) return chosen;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function start() {
    applyTheme(params.get("theme") || window.localStorage.getItem("headroom-theme"));
    $("#theme-toggle").addEventListener("click", () => {
      const next = currentTheme() === "dark" ? "light" : "dark";
      applyTheme(next);
      window.localStorage.setItem("headroom-theme", next);
    });
    for (const button of document.querySelectorAll(".segmented button")) {
      button.addEventListener("click", () => {
        state.series = button.dataset.series;
        if (state.doc) renderSeriesCharts(state.doc);
      });
    }
    let pending = false;
    window.addEventListener("resize", () => {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(() => {
        pending = false;
        render();
      });
    });
    refresh();
    window.setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_SECONDS * 1000);
  }

  start();
})();
