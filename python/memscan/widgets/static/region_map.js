// RegionMap: a block per region, width by log2(size), colour by kind, red glow by changed bytes.
const KIND_COLORS = {
  heap: "#4e79a7", stack: "#f28e2b", executable: "#59a14f", library: "#76b7b2",
  anonymous: "#edc948", file: "#b07aa1", special: "#bab0ac",
};

function render({ model, el }) {
  const box = document.createElement("div");
  box.style.display = "flex";
  box.style.flexWrap = "wrap";
  box.style.gap = "2px";
  const legend = document.createElement("div");
  legend.style.fontSize = "11px";
  const detail = document.createElement("pre");

  function draw() {
    box.replaceChildren();
    const regions = model.get("regions");
    const maxChanged = Math.max(1, ...regions.map((r) => r.changed));
    for (const r of regions) {
      const b = document.createElement("div");
      b.className = "memscan-region";
      b.style.width = `${Math.max(4, Math.log2(r.size) * 3 - 30)}px`;
      b.style.height = "24px";
      b.style.background = KIND_COLORS[r.kind] ?? "#999";
      if (r.changed) b.style.boxShadow = `0 0 0 ${1 + Math.round(3 * r.changed / maxChanged)}px #e15759`;
      b.title = `${r.start} ${r.perms} ${r.kind} ${r.size} bytes ${r.path}${r.changed ? ` — ${r.changed} bytes changed` : ""}`;
      b.onclick = () => { detail.textContent = b.title; };
      box.append(b);
    }
    legend.replaceChildren(...Object.entries(KIND_COLORS).map(([k, c]) => {
      const s = document.createElement("span");
      s.textContent = ` ■ ${k} `;
      s.style.color = c;
      return s;
    }));
  }

  model.on("change:regions", draw);
  el.append(legend, box, detail);
  draw();
}

export default { render };
