// HistoryView: one polyline per address (each scaled to its own range), label markers, a slider.
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function svg(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function render({ model, el }) {
  const W = 640, H = 220, P = 20;
  const chart = svg("svg", { width: W, height: H, class: "memscan-history" });
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = 0;
  slider.style.width = `${W}px`;
  const readout = document.createElement("pre");

  function draw() {
    const n = model.get("samples");
    const x = (i) => P + (n > 1 ? (i * (W - 2 * P)) / (n - 1) : 0);
    chart.replaceChildren();
    for (const { sample, label } of model.get("labels")) {
      chart.append(svg("line", { x1: x(sample), x2: x(sample), y1: P / 2, y2: H - P, stroke: "#bbb", "stroke-dasharray": "3 3" }));
      const t = svg("text", { x: x(sample) + 2, y: P, "font-size": 10, fill: "#666" });
      t.textContent = label;
      chart.append(t);
    }
    model.get("series").forEach((s, k) => {
      const lo = Math.min(...s.values), hi = Math.max(...s.values);
      const y = (v) => H - P - (hi > lo ? ((v - lo) * (H - 2 * P)) / (hi - lo) : (H - 2 * P) / 2);
      const pts = s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ");
      chart.append(svg("polyline", { points: pts, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 1.5 }));
    });
    const pos = model.get("position");
    chart.append(svg("line", { x1: x(pos), x2: x(pos), y1: P / 2, y2: H - P, stroke: "#000" }));
    slider.max = Math.max(0, n - 1);
    slider.value = pos;
    const r = model.get("readout");
    readout.textContent = `sample ${r.sample ?? 0}${r.label ? ` [${r.label}]` : ""}\n` +
      Object.entries(r.values ?? {}).map(([a, v]) => `${a}: ${v}`).join("\n");
  }

  slider.addEventListener("input", () => { model.set("position", Number(slider.value)); model.save_changes(); });
  for (const k of ["series", "labels", "samples", "position", "readout"]) model.on(`change:${k}`, draw);
  el.append(chart, slider, readout);
  draw();
}

export default { render };
