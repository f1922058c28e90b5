// RegionMap: a block per region (width by log2 of its size, colour by kind, a ring by changed
// bytes), a legend, hover details, and a click that opens the region in a MemoryView below.
const KIND_COLORS = {
  heap: "#4e79a7", stack: "#f28e2b", executable: "#59a14f", library: "#76b7b2",
  anonymous: "#edc948", file: "#b07aa1", special: "#bab0ac",
};

async function render({ model, el }) {
  el.classList.add("memscan-widget", "memscan-region-map");
  const title = h("div", { class: "memscan-row" });
  const legend = h("div", { class: "memscan-legend memscan-row" });
  const box = h("div", { class: "memscan-regions" });
  const tip = h("div", { class: "memscan-tooltip", style: "display:none" });
  const status = h("div", { class: "memscan-status" });
  const viewBox = h("div", { class: "memscan-region-view" });
  el.style.position = "relative";
  el.append(title, legend, box, tip, status, viewBox);
  let shownView = null;

  function details(r) {
    const lines = [`${r.start} – ${r.end}  ${r.perms}`, `${r.kind}, ${r.size_text} (${fmtCount(r.size)} bytes)`];
    if (r.path) lines.push(r.path);
    if (r.changed) lines.push(`${plural(r.changed, "byte")} changed`);
    lines.push("click to open in a memory view");
    return lines.join("\n");
  }

  function draw() {
    const regions = model.get("regions");
    const opened = model.get("opened");
    const maxChanged = Math.max(1, ...regions.map((r) => r.changed));
    const total = regions.reduce((s, r) => s + r.size, 0);
    const touched = regions.filter((r) => r.changed).length;
    title.replaceChildren(h("span", { class: "memscan-title" }, plural(regions.length, "region")),
      h("span", { class: "memscan-muted" }, `${fmtBytes(total)} mapped${touched ? ` · ${plural(touched, "region")} changed (ringed)` : ""}`));
    box.replaceChildren(...regions.map((r, i) => {
      const b = h("div", {
        class: `memscan-region${i === opened ? " memscan-open" : ""}`, "data-index": String(i), "data-kind": r.kind,
        role: "button", "aria-label": `${r.kind} region at ${r.start}`,
        style: `width:${Math.max(6, Math.log2(Math.max(r.size, 1)) * 4 - 40)}px;background:${KIND_COLORS[r.kind] ?? "#999"}`,
      });
      if (r.changed) b.style.boxShadow = `0 0 0 ${1 + Math.round((3 * r.changed) / maxChanged)}px var(--ms-error)`;
      b.onmouseenter = () => {
        tip.textContent = details(r);
        tip.style.display = "block";
        tip.style.left = `${Math.min(b.offsetLeft, el.clientWidth - 260)}px`;
        tip.style.top = `${box.offsetTop + b.offsetTop + b.offsetHeight + 6}px`;
      };
      b.onmouseleave = () => { tip.style.display = "none"; };
      b.onclick = () => model.send({ action: "open", index: i });
      return b;
    }));
    const kinds = new Set(regions.map((r) => r.kind));
    legend.replaceChildren(...Object.entries(KIND_COLORS).filter(([k]) => kinds.has(k)).map(([k, c]) =>
      h("span", { class: "memscan-legend-item" }, h("span", { class: "memscan-swatch", style: `background:${c}` }), k)));
    setStatus(status, model.get("status"), model.get("status_kind"));
  }

  // The region opened by a click shows in the MemoryView child widget, under the map.
  async function showView() {
    const ref = model.get("memory_view");
    if (!ref || ref === shownView) return;
    shownView = ref;
    const manager = model.widget_manager;
    try {
      const child = await manager.get_model(String(ref).replace(/^IPY_MODEL_/, ""));
      const view = await manager.create_view(child);
      viewBox.replaceChildren(view.el);
    } catch (e) {
      viewBox.replaceChildren(h("div", { class: "memscan-note" }, "display the map's memory_view to see the region"));
    }
  }

  for (const k of ["regions", "opened", "status", "status_kind"]) model.on(`change:${k}`, draw);
  model.on("change:memory_view", showView);
  draw();
  await showView();
}

export default { render };
