/* logpipe console: runs with progress and cancel, sortable tables, uPlot charts. No framework, no CDN. */
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const COLORS = ["#2f6fde", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0c8599", "#c2255c", "#5f3dc4",
                  "#5c940d", "#1864ab", "#862e9c", "#a61e4d"];

  async function api(path, options) {
    const init = Object.assign({headers: {"Accept": "application/json"}, credentials: "same-origin"}, options || {});
    if (init.body && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = {error: response.statusText}; }
    if (!response.ok) {
      const detail = data && (data.error || data.detail);
      throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail || response.statusText));
    }
    return data;
  }

  function text(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  /* -- sortable tables ------------------------------------------------------------------------- */
  function sortKey(cell) {
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    const num = Number(raw);
    return raw !== "" && !Number.isNaN(num) ? num : raw.toLowerCase();
  }
  function makeSortable(table) {
    $$("thead th", table).forEach((th, index) => {
      th.classList.add("sort");
      th.addEventListener("click", () => {
        const body = table.tBodies[0];
        const rows = Array.from(body.rows).filter(r => r.cells.length > index);
        const ascending = th.dataset.dir !== "asc";
        $$("thead th", table).forEach(h => { delete h.dataset.dir; });
        th.dataset.dir = ascending ? "asc" : "desc";
        rows.sort((a, b) => {
          const x = sortKey(a.cells[index]), y = sortKey(b.cells[index]);
          if (x === y) return 0;
          if (typeof x === "number" && typeof y === "number") return ascending ? x - y : y - x;
          return ascending ? (String(x) < String(y) ? -1 : 1) : (String(x) < String(y) ? 1 : -1);
        });
        rows.forEach(r => body.appendChild(r));
      });
    });
  }

  function renderTable(wrap, data) {
    const table = document.createElement("table");
    table.className = "sortable result";
    table.id = "result-table";
    const head = table.createTHead().insertRow();
    data.columns.forEach(c => {
      const th = document.createElement("th");
      th.textContent = c.name;
      th.title = c.type;
      head.appendChild(th);
    });
    const body = table.createTBody();
    data.rows.forEach(row => {
      const tr = body.insertRow();
      row.forEach((value, i) => {
        const td = tr.insertCell();
        const shown = text(value);
        if (shown.includes("\n") || shown.length > 120) {
          const pre = document.createElement("pre");
          pre.className = "line";
          pre.textContent = shown;
          td.appendChild(pre);
        } else {
          td.textContent = shown;
        }
        if (value === null) td.className = "null";
        if (typeof value === "number") { td.dataset.sort = String(value); td.classList.add("num"); }
      });
    });
    wrap.replaceChildren(table);
    makeSortable(table);
  }

  /* -- charts ------------------------------------------------------------------------------------ */
  function shortNumber(v) {
    if (v == null) return "";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    return String(Math.round(v * 1000) / 1000);
  }

  /* A time-series chart: drag across it to zoom, double-click to reset, hover for values.
     ``range`` [start, end] (epoch seconds) keeps the axis on the window asked for, so one point
     is a dot in its place rather than a chart of its own. */
  function drawChart(el, x, series, title, range) {
    if (!window.uPlot) { el.textContent = "chart library not loaded"; return null; }
    el.hidden = false;
    el.replaceChildren();
    let xs = x.slice();
    let ys = series.map(s => s.values.slice());
    if (!(range && range.length === 2) && xs.length === 1) {
      range = [xs[0] - 43200, xs[0] + 43200];  // one point, no window: a day around it, not years
    }
    if (range && range.length === 2) {
      if (!xs.length || range[0] < xs[0]) { xs.unshift(range[0]); ys.forEach(v => v.unshift(null)); }
      if (range[1] > xs[xs.length - 1]) { xs.push(range[1]); ys.forEach(v => v.push(null)); }
    }
    const width = Math.max(320, el.clientWidth || el.parentElement.clientWidth || 800);
    const opts = {
      title: title || "",
      width: width,
      height: 260,
      tzDate: ts => window.uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      scales: {x: {time: true}},
      cursor: {drag: {x: true, y: false}},
      legend: {live: true},
      series: [{label: "time (UTC)"}]
        .concat(series.map((s, i) => ({label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5,
                                       value: (u, v) => v == null ? "" : shortNumber(v),
                                       points: {show: x.length < 60, size: 5}, spanGaps: false}))),
      axes: [{}, {size: 56, values: (u, ticks) => ticks.map(shortNumber)}],
      hooks: {setScale: [(u, key) => {
        if (key === "x") { el.dataset.xmin = String(u.scales.x.min); el.dataset.xmax = String(u.scales.x.max); }
      }]},
    };
    const chart = new window.uPlot(opts, [xs].concat(ys), el);
    el.uplot = chart;
    el.dataset.xmin = String(chart.scales.x.min);
    el.dataset.xmax = String(chart.scales.x.max);
    el.dataset.ready = "yes";
    return chart;
  }

  /* -- query runs -------------------------------------------------------------------------------- */
  function formValues(form) {
    const params = {};
    let since = null, until = null, engine = null, sql = null;
    new FormData(form).forEach((value, key) => {
      if (key.startsWith("p.")) { if (value !== "") params[key.slice(2)] = String(value); }
      else if (key === "since") since = value || null;
      else if (key === "until") until = value || null;
      else if (key === "engine") engine = value || null;
      else if (key === "sql") sql = String(value);
    });
    return {params, since, until, engine, sql};
  }

  function setupRunForm(form) {
    const section = $("#run");
    const isSql = form.dataset.sql === "yes";
    let current = null;
    let timer = null;

    async function explain() {
      const out = $("#explain-out");
      const v = formValues(form);
      const q = new URLSearchParams();
      Object.entries(v.params).forEach(([k, val]) => q.set("p." + k, val));
      if (v.since) q.set("since", v.since);
      if (v.until) q.set("until", v.until);
      out.hidden = false;
      out.textContent = "explaining…";
      try {
        const e = await api(`/api/queries/${form.dataset.query}/explain?${q}`);
        const mb = (e.bytes_scanned / 1048576).toFixed(2);
        out.innerHTML = "";
        const p = document.createElement("p");
        p.textContent = `${e.since} – ${e.until}: ${e.partitions.length} partitions, ${e.objects} objects, ` +
          `${mb} MB to scan; on Athena about $${e.athena_cost_usd.toFixed(6)}.`;
        out.appendChild(p);
        e.warnings.forEach(w => { const wp = document.createElement("p"); wp.className = "warning"; wp.textContent = w; out.appendChild(wp); });
      } catch (err) {
        out.innerHTML = "";
        const p = document.createElement("p"); p.className = "error"; p.textContent = err.message; out.appendChild(p);
      }
    }

    function show(run) {
      current = run;
      section.hidden = false;
      $("#run-state").textContent = run.state;
      $("#run-state").className = "state " + run.state;
      $("#run-progress").textContent = run.state === "running" || run.state === "queued" ? run.progress : "";
      $("#cancel").hidden = !(run.state === "running" || run.state === "queued") || form.dataset.operator !== "yes";
      const err = $("#run-error");
      err.hidden = !run.error;
      err.textContent = run.error || "";
      const link = $("#permalink");
      link.hidden = false;
      link.href = run.url;
      if (run.state === "done") {
        const s = run.stats || {};
        $("#run-stats").textContent = `${run.rows} rows in ${run.seconds}s · ${s.engine || ""} scanned ` +
          `${((s.bytes_scanned || 0) / 1048576).toFixed(2)} MB` + (run.truncated ? ` · showing the first ${run.rows_shown}` : "");
        const dl = $("#downloads");
        dl.hidden = false;
        $("#dl-csv").href = run.downloads.csv;
        $("#dl-json").href = run.downloads.json;
        $("#dl-parquet").href = run.downloads.parquet;
      } else {
        $("#run-stats").textContent = "";
        $("#downloads").hidden = true;
      }
    }

    async function poll(runId) {
      clearTimeout(timer);
      const run = await api(`/api/runs/${runId}`);
      show(run);
      if (run.state === "queued" || run.state === "running") {
        timer = setTimeout(() => poll(runId).catch(fail), 300);
        return;
      }
      if (run.state === "done") {
        const result = await api(`/api/runs/${runId}/result?limit=10000`);
        renderTable($("#table-wrap"), result);
        const chartEl = $("#chart");
        if (result.chart) drawChart(chartEl, result.chart.x, result.chart.series, result.chart.title,
                                    [Date.parse(run.since) / 1000, Date.parse(run.until) / 1000]);
        else chartEl.hidden = true;
        section.dataset.done = runId;
        const expect = new URLSearchParams(location.search).get("expect");
        if (expect !== null) {
          const note = $("#expect");
          note.hidden = false;
          note.textContent = `${result.rows_total} lines; the pattern store counted ${expect} for this window` +
            (String(result.rows_total) === expect ? " (all of them)." : ".");
        }
      }
    }

    function fail(err) {
      section.hidden = false;
      $("#run-state").textContent = "failed";
      $("#run-state").className = "state failed";
      const e = $("#run-error");
      e.hidden = false;
      e.textContent = err.message;
    }

    async function run() {
      const v = formValues(form);
      $("#table-wrap").replaceChildren();
      $("#chart").hidden = true;
      delete section.dataset.done;
      try {
        const started = isSql
          ? await api("/api/sql/runs", {method: "POST", body: {sql: v.sql, since: v.since, until: v.until, engine: v.engine}})
          : await api(`/api/queries/${form.dataset.query}/runs`, {method: "POST", body: {params: v.params, since: v.since, until: v.until, engine: v.engine}});
        const keep = new URLSearchParams(location.search);
        const url = new URL(started.url, location.origin);
        ["expect", "pattern"].forEach(k => { if (keep.get(k) !== null) url.searchParams.set(k, keep.get(k)); });
        history.replaceState(null, "", url.pathname + url.search);
        show(started);
        await poll(started.run_id);
      } catch (err) { fail(err); }
    }

    form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
    const explainButton = $("#explain");
    if (explainButton) explainButton.addEventListener("click", explain);
    $("#cancel").addEventListener("click", async () => {
      if (!current) return;
      try { show(await api(`/api/runs/${current.run_id}/cancel`, {method: "POST"})); } catch (err) { fail(err); }
    });
    $$(".schema .col").forEach(b => b.addEventListener("click", () => {
      const area = $("#sql");
      const at = area.selectionStart;
      area.value = area.value.slice(0, at) + b.dataset.col + area.value.slice(area.selectionEnd);
      area.focus();
    }));
    if (form.dataset.autorun === "yes" && form.dataset.operator === "yes") run();
  }

  /* -- pages ------------------------------------------------------------------------------------- */
  function jsonOf(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  async function dashboards() {
    const wrap = $("#charts");
    if (!wrap) return;
    const select = $("#service-filter");
    const services = new Set();
    const q = new URLSearchParams({since: wrap.dataset.since, until: wrap.dataset.until});
    if (wrap.dataset.service) q.set("service", wrap.dataset.service);
    const range = [Date.parse(wrap.dataset.since) / 1000, Date.parse(wrap.dataset.until) / 1000];
    await Promise.all($$(".chart[data-metric]", wrap).map(async (el) => {
      try {
        const s = await api(`/api/metrics/${encodeURIComponent(el.dataset.metric)}?${q}`);
        s.services.forEach(x => services.add(x));
        if (!s.x.length) { el.textContent = "no data points in this window"; return; }
        if (s.unit) el.previousElementSibling.textContent = `${s.name} (${s.unit})`;
        drawChart(el, s.x, s.series, "", range);
      } catch (err) { el.textContent = err.message; }
    }));
    Array.from(services).sort().forEach(name => {
      const o = document.createElement("option");
      o.value = o.textContent = name;
      if (name === select.dataset.value) o.selected = true;
      select.appendChild(o);
    });
    select.addEventListener("change", () => $("#dash-form").submit());
    wrap.dataset.loaded = "yes";
  }

  function patternPage() {
    const hourly = jsonOf("hourly-data");
    if (hourly && hourly.x.length) drawChart($("#hourly"), hourly.x, [{label: "records", values: hourly.counts}], "");
    const release = $("#release");
    if (release) {
      api(`/api/patterns/${release.dataset.pattern}/release`).then(r => {
        release.textContent = r.release ? `${r.release} (first line ${r.first_line_at})` : (r.reason || "unknown");
      }).catch(err => { release.textContent = err.message; });
    }
  }

  function resultPage() {
    const r = jsonOf("result-data");
    if (!r) return;
    renderTable($("#table-wrap"), r);
    if (r.chart) drawChart($("#chart"), r.chart.x, r.chart.series, r.chart.title);
  }

  function findingsPage() {
    const over = jsonOf("findings-data");
    if (!over || !over.length) return;
    const xs = Array.from(new Set(over.map(o => Date.parse(o.window_end) / 1000))).sort((a, b) => a - b);
    const sev = ["critical", "warning", "info"];
    const series = sev.map(s => ({label: s, values: xs.map(x => {
      const hit = over.filter(o => o.severity === s && Date.parse(o.window_end) / 1000 === x);
      return hit.length ? hit.reduce((a, o) => a + o.count, 0) : 0;
    })}));
    const el = $("#findings-chart");
    const range = el.dataset.since ? [Date.parse(el.dataset.since) / 1000, Date.parse(el.dataset.until) / 1000] : null;
    drawChart(el, xs, series, "findings per window", range);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $$("table.sortable").forEach(makeSortable);
    const form = $("#run-form");
    if (form) setupRunForm(form);
    dashboards();
    patternPage();
    resultPage();
    findingsPage();
  });
})();
