// HistoryView: a uPlot chart of values over time. Drag to zoom, wheel to zoom, shift-drag or
// shift-wheel to pan, double-click to show everything, click to pick the readout's sample.
// Python sends the points of the shown window only (min/max decimated when long) and re-sends
// them for each new window; `sample_index` names the sample each point is.
// The Python side replaces the next line with the vendored uPlot source (static/vendor/).
// @vendor uPlot

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
  "#ff9da7", "#9c755f", "#bab0ac"];
let uPlotModule = null;

function loadUPlot() {
  uPlotModule ??= import(URL.createObjectURL(new Blob([UPLOT_SOURCE], { type: "text/javascript" })))
    .then((m) => m.default);
  return uPlotModule;
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "—";
  const a = Math.abs(s);
  if (a >= 120) return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")} min`;
  if (a >= 10) return `${s.toFixed(1)} s`;
  if (a >= 1) return `${s.toFixed(2)} s`;
  if (a === 0) return "0 s";
  return `${Number((s * 1000).toPrecision(3))} ms`;
}

function fmtValue(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  return Math.abs(v) >= 1e15 || (v !== 0 && Math.abs(v) < 1e-4) ? v.toExponential(4) : v.toLocaleString("en-US", { maximumFractionDigits: 6 });
}

/** A little-endian buffer from Python (a DataView) as a `Type` typed array (copied, aligned). */
function typed(view, Type) {
  if (!view || !view.byteLength) return new Type(0);
  return new Type(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

function themeColor(el, name, fallback) {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

/** Label markers: a dashed line each, text in up to three rows, never overlapping. */
function labelsPlugin(getLabels, el) {
  return {
    hooks: {
      draw: (u) => {
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        const px = devicePixelRatio || 1;
        const rowsEnd = [-Infinity, -Infinity, -Infinity];
        ctx.save();
        ctx.font = `${11 * px}px ${themeColor(el, "--jp-ui-font-family", "sans-serif")}`;
        ctx.textBaseline = "top";
        ctx.textAlign = "left";
        for (const lab of getLabels()) {
          const x = Math.round(u.valToPos(lab.time, "x", true));
          if (x < left || x > left + width) continue;
          ctx.strokeStyle = themeColor(el, "--ms-fg2", "#777");
          ctx.globalAlpha = 0.6;
          ctx.setLineDash([4 * px, 3 * px]);
          ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
          ctx.globalAlpha = 1;
          const w = ctx.measureText(lab.label).width;
          const row = rowsEnd.findIndex((end) => x + 3 * px > end + 6 * px);
          if (row < 0) continue; // no room: the readout names it on hover
          const tx = Math.min(x + 3 * px, left + width - w);
          ctx.fillStyle = themeColor(el, "--ms-bg", "#fff");
          ctx.fillRect(tx - 2 * px, top + 2 * px + row * 14 * px, w + 4 * px, 13 * px);
          ctx.fillStyle = themeColor(el, "--ms-fg", "#222");
          ctx.fillText(lab.label, tx, top + 3 * px + row * 14 * px);
          rowsEnd[row] = tx + w;
        }
        ctx.restore();
      },
    },
  };
}

/** Wheel zooms around the cursor; shift-wheel and shift-drag pan. */
function zoomPanPlugin(full) {
  return {
    hooks: {
      ready: (u) => {
        const over = u.over;
        const clamp = (lo, hi) => {
          const [a, b] = full();
          const span = Math.min(hi - lo, b - a);
          if (lo < a) { lo = a; hi = a + span; }
          if (hi > b) { hi = b; lo = b - span; }
          return [lo, hi];
        };
        over.addEventListener("wheel", (e) => {
          e.preventDefault();
          const { min, max } = u.scales.x;
          const span = max - min;
          if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
            const d = ((e.shiftKey ? e.deltaY : e.deltaX) / over.clientWidth) * span;
            const [lo, hi] = clamp(min + d, max + d);
            u.setScale("x", { min: lo, max: hi });
            return;
          }
          const at = u.posToVal(e.offsetX, "x");
          const f = e.deltaY < 0 ? 0.8 : 1.25;
          const [lo, hi] = clamp(at - (at - min) * f, at + (max - at) * f);
          u.setScale("x", { min: lo, max: hi });
        }, { passive: false });
        over.addEventListener("mousedown", (e) => {
          if (!e.shiftKey) return;
          e.stopPropagation();
          e.preventDefault();
          const x0 = e.clientX;
          const { min, max } = u.scales.x;
          const move = (m) => {
            const d = ((x0 - m.clientX) / over.clientWidth) * (max - min);
            const [lo, hi] = clamp(min + d, max + d);
            u.setScale("x", { min: lo, max: hi });
          };
          const up = () => { removeEventListener("mousemove", move); removeEventListener("mouseup", up); };
          addEventListener("mousemove", move);
          addEventListener("mouseup", up);
        }, true);
      },
    },
  };
}

async function render({ model, el }) {
  el.classList.add("memscan-widget", "memscan-history");
  const uPlot = await loadUPlot();
  const set = (k, v) => { model.set(k, v); model.save_changes(); };
  const title = h("span", { class: "memscan-title" });
  const windowInfo = h("span", { class: "memscan-muted memscan-window" });
  const scaleSel = h("select", { class: "memscan-scale", "aria-label": "value scale" },
    h("option", { value: "shared" }, "shared scale"), h("option", { value: "per-series" }, "scale per series"));
  scaleSel.addEventListener("change", () => set("scale", scaleSel.value));
  const resetBtn = h("button", { class: "memscan-reset-zoom", onclick: () => showAll() }, "Show all");
  const chartBox = h("div", { class: "memscan-chart" });
  const readout = h("div", { class: "memscan-readout memscan-muted" });
  const status = h("div", { class: "memscan-status" });
  const help = h("span", { class: "memscan-muted" }, "drag or wheel: zoom · shift-drag: pan · double-click: all");
  el.append(h("div", { class: "memscan-row" }, title, windowInfo), chartBox,
    h("div", { class: "memscan-row" }, scaleSel, resetBtn, help), readout, status);

  let plot = null;
  let data = null;
  let sampleIndex = new Uint32Array(0);
  let total = [0, 1];
  let syncing = false;
  let rangeTimer = null;
  let pendingRange = null;

  function columns() {
    const times = typed(model.get("times"), Float64Array);
    const values = typed(model.get("values"), Float64Array);
    sampleIndex = typed(model.get("sample_index"), Uint32Array);
    const n = times.length;
    const series = model.get("series").map((_, k) => values.subarray(k * n, (k + 1) * n));
    return [times, ...series];
  }

  function fullSpan() {
    const d = model.get("duration");
    return [0, d > 0 ? d : 1];
  }

  function showAll() {
    plot?.setScale("x", { min: total[0], max: total[1] });
  }

  /** Tells Python the shown window once zooming or panning pauses (it re-sends the points). */
  function sendRange(range) {
    clearTimeout(rangeTimer);
    pendingRange = range;
    rangeTimer = setTimeout(flushRange, 120);
  }

  function flushRange() {
    clearTimeout(rangeTimer);
    if (pendingRange === null) return;
    syncing = true;
    set("x_range", pendingRange);
    syncing = false;
    pendingRange = null;
  }

  /** New points or a longer recording, same series: the shown window stays (or grows with the
   * data when everything is shown). Changes that arrive together draw once. */
  let stale = false;
  function update() {
    if (stale || !plot) return;
    stale = true;
    queueMicrotask(() => {
      if (!stale) return; // build() has drawn it
      stale = false;
      const { min, max } = plot.scales.x;
      const all = min <= total[0] && max >= total[1];
      data = columns();
      total = fullSpan();
      plot.setData(data, false);
      plot.setScale("x", all ? { min: total[0], max: total[1] } : { min, max });
      showWindow();
    });
  }

  function showWindow() {
    if (!plot) return;
    const { min, max } = plot.scales.x;
    const all = min <= total[0] && max >= total[1];
    windowInfo.textContent = all
      ? `${plural(model.get("samples"), "sample")} over ${fmtSeconds(total[1] - total[0])}`
      : `showing ${fmtSeconds(min)} – ${fmtSeconds(max)} of ${fmtSeconds(total[1] - total[0])}`;
    windowInfo.dataset.zoomed = all ? "no" : "yes";
  }

  function build() {
    flushRange();
    plot?.destroy();
    stale = false;
    data = columns();
    total = fullSpan();
    const series = model.get("series");
    const perSeries = model.get("scale") === "per-series";
    const fg = themeColor(el, "--ms-fg", "#222");
    const grid = themeColor(el, "--ms-border2", "#e0e0e0");
    title.textContent = `${plural(series.length, "series", "series")} of ${model.get("value_type")}`;
    scaleSel.value = model.get("scale");
    chartBox.dataset.scale = model.get("scale");
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts = {
      width: Math.max(320, Math.min(el.clientWidth || 800, 1100)),
      height: 300,
      scales: { x: { time: false } },
      series: [
        { label: "time", value: (u, v) => fmtSeconds(v) },
        ...series.map((s, k) => ({
          label: s.name === s.address ? s.address : `${s.name} (${s.address})`,
          stroke: PALETTE[k % PALETTE.length],
          width: 1.5,
          scale: perSeries ? `s${k}` : "y",
          value: (u, v) => fmtValue(v),
          points: { show: false },
        })),
      ],
      axes: [
        { ...axis, label: "time since the first sample", labelSize: 20, values: (u, splits) => splits.map(fmtSeconds) },
        {
          ...axis, scale: perSeries ? "s0" : "y", size: 70,
          label: perSeries ? "first series (each on its own scale)" : "value", labelSize: 20,
          values: (u, splits) => splits.map(fmtValue),
          stroke: perSeries ? PALETTE[0] : fg,
        },
      ],
      cursor: {
        drag: { x: true, y: false, setScale: true },
        // Double-click shows every sample, not just the points of the window Python sent.
        bind: { dblclick: () => (e) => { if (e.button === 0) showAll(); } },
      },
      legend: { live: true },
      plugins: [labelsPlugin(() => model.get("labels"), el), zoomPanPlugin(() => total)],
      hooks: {
        setScale: [(u, key) => {
          if (key !== "x") return;
          showWindow();
          const { min, max } = u.scales.x;
          const all = min <= total[0] && max >= total[1];
          sendRange(all ? [] : [min, max]);
        }],
        setCursor: [(u) => {
          const i = u.cursor.idx;
          if (i === null || i === undefined) return;
          const sample = sampleIndex[i];
          // The sample's label, else one drawn within 3 px (points of a decimated window are
          // spans of samples).
          const labels = model.get("labels");
          const lab = labels.find((l) => l.sample === sample)
            ?? labels.find((l) => Math.abs(u.valToPos(l.time, "x") - u.cursor.left) <= 3);
          const named = !lab ? "" : lab.sample === sample ? ` · ${lab.label}` : ` · ${lab.label} (sample ${fmtCount(lab.sample)})`;
          readout.textContent = `sample ${fmtCount(sample)} at ${fmtSeconds(data[0][i])}${named}`;
        }],
      },
    };
    plot = new uPlot(opts, data, chartBox);
    let down = null;
    plot.over.addEventListener("mousedown", (e) => { down = e.clientX; });
    plot.over.addEventListener("mouseup", (e) => {
      if (down !== null && Math.abs(e.clientX - down) < 3 && plot.cursor.idx != null) set("position", sampleIndex[plot.cursor.idx]);
      down = null;
    });
    applyRange();
    showWindow();
    showReadout();
  }

  function applyRange() {
    if (!plot || syncing) return;
    const r = model.get("x_range");
    plot.setScale("x", r.length === 2 ? { min: r[0], max: r[1] } : { min: total[0], max: total[1] });
  }

  function showReadout() {
    const r = model.get("readout");
    if (!r || r.sample === undefined) { readout.textContent = "no samples yet"; return; }
    readout.textContent = `sample ${fmtCount(r.sample)} at ${fmtSeconds(r.seconds)}${r.label ? ` · ${r.label}` : ""} (click the chart to pick a sample)`;
  }

  for (const k of ["series", "scale", "labels"]) model.on(`change:${k}`, build);
  for (const k of ["times", "values", "sample_index", "duration"]) model.on(`change:${k}`, update);
  model.on("change:x_range", applyRange);
  model.on("change:readout", showReadout);
  for (const k of ["status", "status_kind"]) model.on(`change:${k}`, () => setStatus(status, model.get("status"), model.get("status_kind")));
  setStatus(status, model.get("status"), model.get("status_kind"));
  // Canvas colours come from the theme: redraw when JupyterLab switches it.
  const themeWatch = new MutationObserver(build);
  themeWatch.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"] });
  requestAnimationFrame(build);
  return () => { clearTimeout(rangeTimer); themeWatch.disconnect(); plot?.destroy(); };
}

export default { render };
