// MemoryView: 16 bytes a row, changed bytes highlighted, click a byte to read it as every type.
function render({ model, el }) {
  const dump = document.createElement("pre");
  dump.className = "memscan-hexdump";
  const info = document.createElement("pre");
  const refresh = document.createElement("button");
  refresh.textContent = "refresh";
  refresh.onclick = () => model.send({ action: "refresh" });

  function draw() {
    const data = model.get("data"), changed = model.get("changed"), base = model.get("address");
    const sel = model.get("selection");
    dump.replaceChildren();
    for (let row = 0; row < data.length; row += 16) {
      const line = document.createElement("div");
      line.append(`${(base + row).toString(16).padStart(12, "0")}  `);
      for (let i = row; i < Math.min(row + 16, data.length); i++) {
        const b = document.createElement("span");
        b.textContent = data[i].toString(16).padStart(2, "0") + " ";
        if (changed[i]) b.style.background = "#ffb3b3";
        if (i === sel) b.style.outline = "1px solid #00f";
        b.style.cursor = "pointer";
        b.onclick = () => { model.set("selection", i); model.save_changes(); };
        line.append(b);
      }
      const text = data.slice(row, row + 16).map((c) => (c >= 32 && c < 127 ? String.fromCharCode(c) : ".")).join("");
      line.append(` ${text}`);
      dump.append(line);
    }
    const interp = model.get("interpretations");
    info.textContent = `offset +${sel} (${(base + sel).toString(16)})\n` +
      Object.entries(interp).map(([k, v]) => `${k.padEnd(5)} ${v}`).join("\n") +
      (model.get("status") ? `\n${model.get("status")}` : "");
  }

  for (const k of ["data", "changed", "selection", "interpretations", "status"]) model.on(`change:${k}`, draw);
  el.append(refresh, dump, info);
  draw();
}

export default { render };
