// StructView: a structure field by field (ReClass-style). Pick a type from the list, double-click
// a name to rename it, ▸ opens a pointer into the layout behind it, "+ list" adds a field to the
// address list, "Copy as C" shows (and copies) the layout as C.

function render({ model, el }) {
  el.classList.add("memscan-widget", "memscan-struct-view");
  const send = (msg) => model.send(msg);
  const title = h("span", { class: "memscan-mono" });
  const live = h("input", { type: "checkbox", class: "memscan-live" });
  live.addEventListener("change", () => { model.set("live", live.checked); model.save_changes(); });
  const bar = h("div", { class: "memscan-row" }, title,
    h("button", { class: "memscan-refresh", onclick: () => send({ action: "refresh" }) }, "Refresh"),
    h("label", {}, live, "live"),
    h("button", { class: "memscan-copy-c memscan-primary", onclick: () => send({ action: "to_c" }) }, "Copy as C"));
  const table = h("table", { class: "memscan-table memscan-struct memscan-mono" });
  const code = h("pre", { class: "memscan-c memscan-mono" });
  const status = h("div", { class: "memscan-status" });
  el.append(bar, table, code, status);

  function nameCell(r) {
    const td = h("td", { class: "memscan-left memscan-name", title: "double-click to rename", style: `padding-left:${8 + 16 * r.depth}px` });
    const toggle = r.expandable || r.open
      ? h("button", { class: "memscan-toggle", title: r.open ? "close" : "open the pointer", onclick: () => send({ action: "toggle", path: r.path }) }, r.open ? "▾" : "▸")
      : h("span", { class: "memscan-toggle-space" }, " ");
    td.append(toggle, " ", r.name);
    td.ondblclick = () => {
      const input = h("input", { type: "text", class: "memscan-edit", size: "16", value: r.name });
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") send({ action: "rename", path: r.path, name: input.value });
        if (e.key === "Escape") draw();
      });
      td.replaceChildren(input);
      setTimeout(() => { input.focus(); input.select(); });
    };
    return td;
  }

  function typeCell(r) {
    const types = model.get("types");
    if (!types.includes(r.type)) return h("td", { class: "memscan-left" }, r.type);
    const pick = h("select", { class: "memscan-type", "aria-label": `type of ${r.path}` },
      ...types.map((t) => h("option", { value: t, selected: t === r.type }, t)));
    pick.addEventListener("change", () => send({ action: "set_type", path: r.path, type: pick.value }));
    return h("td", { class: "memscan-left" }, pick);
  }

  function draw() {
    const rows = model.get("rows");
    title.textContent = `${model.get("layout_name")} at ${model.get("location")}`;
    const head = h("tr", {}, ...["offset", "name", "type", "value", "evidence", ""].map((c) => h("th", { class: "memscan-left" }, c)));
    const body = rows.map((r) => h("tr", { "data-path": r.path },
      h("td", { class: "memscan-left memscan-muted" }, `+${r.offset.toString(16).padStart(3, "0")}`),
      nameCell(r), typeCell(r),
      h("td", { class: "memscan-left memscan-value" }, r.value),
      h("td", { class: "memscan-left memscan-muted memscan-evidence", title: r.points_to || r.evidence }, r.evidence),
      h("td", {}, h("button", { class: "memscan-add", title: "add to the address list", onclick: () => send({ action: "add_to_list", path: r.path }) }, "+ list"))));
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, ...body));
    const c = model.get("c_text");
    code.textContent = c;
    code.style.display = c ? "" : "none";
    live.checked = model.get("live");
    setStatus(status, model.get("status"), model.get("status_kind"));
  }

  model.on("change:c_text", () => {
    const c = model.get("c_text");
    if (c && navigator.clipboard) navigator.clipboard.writeText(c).catch(() => {});
  });
  for (const k of ["rows", "c_text", "status", "status_kind", "location", "layout_name", "live", "types"]) model.on(`change:${k}`, draw);
  draw();
}

export default { render };
