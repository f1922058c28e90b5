// MemoryView: a hex dump with a column header and a printable-ASCII column, changed bytes
// highlighted, navigation (address expressions, pages, pointers) and in-place editing:
// click a byte to select it, double-click it (or a typed value) to edit, Enter writes.
const ROW = 16;

function render({ model, el }) {
  el.classList.add("memscan-widget", "memscan-memory-view");
  const send = (msg) => model.send(msg);
  const addrBox = h("input", { type: "text", class: "memscan-goto", size: "28", placeholder: "address, e.g. 0x7f… or game+0x4140", "aria-label": "address" });
  addrBox.addEventListener("keydown", (e) => { if (e.key === "Enter") send({ action: "goto", to: addrBox.value }); });
  const backBtn = h("button", { class: "memscan-back", title: "back", onclick: () => send({ action: "back" }) }, "←");
  const live = h("input", { type: "checkbox", class: "memscan-live" });
  live.addEventListener("change", () => { model.set("live", live.checked); model.save_changes(); });
  const nav = h("div", { class: "memscan-row" }, backBtn, addrBox,
    h("button", { class: "memscan-go memscan-primary", onclick: () => send({ action: "goto", to: addrBox.value }) }, "Go"),
    h("button", { class: "memscan-page-up", title: "previous block", onclick: () => send({ action: "page", delta: -1 }) }, "▲ Page up"),
    h("button", { class: "memscan-page-down", title: "next block", onclick: () => send({ action: "page", delta: 1 }) }, "▼ Page down"),
    h("button", { class: "memscan-follow", title: "go to the 8-byte pointer at the selection", onclick: () => send({ action: "follow" }) }, "Follow pointer"),
    h("button", { class: "memscan-refresh", onclick: () => send({ action: "refresh" }) }, "Refresh"),
    h("label", {}, live, "live"));
  const dump = h("table", { class: "memscan-hexdump memscan-mono" });
  const interp = h("table", { class: "memscan-table memscan-interp memscan-mono" });
  const status = h("div", { class: "memscan-status" });
  el.append(nav, h("div", { class: "memscan-row", style: "align-items:flex-start;gap:24px" }, dump, interp), status);

  function editor(initial, onDone, size) {
    const input = h("input", { type: "text", class: "memscan-edit memscan-mono", size: String(size), value: initial });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") onDone(input.value);
      if (e.key === "Escape") draw();
    });
    input.addEventListener("blur", () => draw());
    setTimeout(() => { input.focus(); input.select(); });
    return input;
  }

  function drawDump() {
    const data = model.get("data"), changed = model.get("changed"), base = model.get("address");
    const sel = model.get("selection");
    const head = h("tr", {}, h("th", { class: "memscan-left" }, "address"),
      ...Array.from({ length: ROW }, (_, i) => h("th", {}, i.toString(16).padStart(2, "0"))),
      h("th", { class: "memscan-left memscan-ascii" }, "ASCII"));
    const rows = [];
    for (let row = 0; row < data.length; row += ROW) {
      const cells = [h("td", { class: "memscan-left memscan-muted" }, hex(base + row))];
      let text = "";
      for (let i = row; i < row + ROW; i++) {
        if (i >= data.length) { cells.push(h("td")); continue; }
        const c = data[i];
        const td = h("td", {
          class: `memscan-byte${changed[i] ? " memscan-changed" : ""}${i === sel ? " memscan-sel" : ""}`,
          "data-offset": String(i), title: `${hex(base + i)} (+${i})`,
        }, c.toString(16).padStart(2, "0"));
        td.onclick = () => { model.set("selection", i); model.save_changes(); };
        td.ondblclick = () => td.replaceChildren(editor(c.toString(16).padStart(2, "0"), (v) => send({ action: "write_byte", offset: i, value: v }), 2));
        cells.push(td);
        text += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "·";
      }
      cells.push(h("td", { class: "memscan-left memscan-ascii" }, text));
      rows.push(h("tr", {}, ...cells));
    }
    dump.replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows));
  }

  // Typed values two by two (signed and unsigned, f32 and f64), then the pointer and text.
  const PAIRS = [["i8", "u8"], ["i16", "u16"], ["i32", "u32"], ["i64", "u64"], ["f32", "f64"], ["pointer"], ["text"]];

  function typed(type, v) {
    const td = h("td", { class: "memscan-left memscan-typed", "data-type": type, colspan: type === "pointer" || type === "text" ? "3" : undefined }, v === "" || v === undefined ? "—" : v);
    if (type !== "pointer" && type !== "text" && v !== "" && v !== undefined) {
      td.title = "double-click to write a new value";
      td.ondblclick = () => td.replaceChildren(editor(v, (nv) => send({ action: "write_value", type, value: nv }), 22));
    }
    return td;
  }

  function drawInterp() {
    const base = model.get("address"), sel = model.get("selection");
    const values = model.get("interpretations");
    const rows = PAIRS.map((pair) => h("tr", {}, ...pair.flatMap((type) => [h("th", { class: "memscan-left" }, type), typed(type, values[type])])));
    interp.replaceChildren(h("caption", { class: "memscan-muted" }, `selection ${hex(base + sel)} (+${sel}) read as`), h("tbody", {}, ...rows));
  }

  function draw() {
    drawDump();
    drawInterp();
    if (document.activeElement !== addrBox) addrBox.value = model.get("location");
    backBtn.disabled = !model.get("can_go_back");
    live.checked = model.get("live");
    setStatus(status, model.get("status"), model.get("status_kind"));
  }

  for (const k of ["data", "changed", "selection", "interpretations", "status", "status_kind", "location", "can_go_back", "live"]) model.on(`change:${k}`, draw);
  draw();
}

export default { render };
