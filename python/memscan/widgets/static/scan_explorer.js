// ScanExplorer view: candidate count, paged table, next-scan buttons, write/freeze controls.
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function render({ model, el }) {
  el.classList.add("memscan-scan-explorer");
  const count = h("span", { class: "memscan-count" });
  const status = h("div", { class: "memscan-status" });
  const value = h("input", { type: "text", placeholder: "value", class: "memscan-value", size: "12" });
  const ops = h("div", { class: "memscan-ops" });
  const table = h("table", { class: "memscan-table" });
  const pager = h("div", { class: "memscan-pager" });
  const live = h("input", { type: "checkbox", class: "memscan-live" });
  const writeBox = h("input", { type: "text", placeholder: "new value", size: "10" });

  const send = (msg) => model.send(msg);
  value.addEventListener("change", () => { model.set("value", value.value); model.save_changes(); });
  live.addEventListener("change", () => { model.set("live", live.checked); model.save_changes(); });

  function drawOps() {
    ops.replaceChildren(
      ...model.get("ops").map((op) =>
        h("button", { class: `memscan-op memscan-op-${op}`, "data-op": op,
          onclick: () => send({ action: "next", op, value: value.value }) }, op)),
      h("button", { class: "memscan-undo", onclick: () => send({ action: "undo" }) }, "undo"),
      h("button", { class: "memscan-refresh", onclick: () => send({ action: "refresh" }) }, "refresh"),
    );
  }

  function drawTable() {
    const rows = model.get("rows");
    const cols = ["index", "address", "value", "current", "previous", "region"];
    const selected = model.get("selected");
    table.replaceChildren(
      h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", {}, c)))),
      h("tbody", {}, ...rows.map((r) => {
        const tr = h("tr", { class: r.index === selected ? "memscan-selected" : "",
          onclick: () => { model.set("selected", r.index); model.save_changes(); } },
          ...cols.map((c) => h("td", {}, String(r[c] ?? ""))));
        return tr;
      })),
    );
  }

  function drawPager() {
    const page = model.get("page");
    const pages = Math.max(1, Math.ceil(model.get("count") / model.get("page_size")));
    const go = (p) => { model.set("page", Math.min(Math.max(p, 0), pages - 1)); model.save_changes(); };
    pager.replaceChildren(
      h("button", { onclick: () => go(page - 1) }, "‹"),
      ` page ${page + 1} / ${pages} `,
      h("button", { onclick: () => go(page + 1) }, "›"),
      " selected: ", String(model.get("selected") >= 0 ? `#${model.get("selected")}` : "none"), " ",
      writeBox,
      h("button", { onclick: () => send({ action: "write", index: model.get("selected"), value: writeBox.value }) }, "write"),
      h("button", { onclick: () => send({ action: "freeze", index: model.get("selected"), value: writeBox.value }) }, "freeze"),
      h("button", { onclick: () => send({ action: "release" }) }, "release all"),
      h("label", {}, live, " live"),
    );
  }

  function drawCount() {
    count.textContent = `${model.get("count").toLocaleString()} candidates (${model.get("value_type")})`;
    status.textContent = model.get("status");
    live.checked = model.get("live");
  }

  model.on("change:rows", drawTable);
  model.on("change:selected", () => { drawTable(); drawPager(); });
  model.on("change:count", () => { drawCount(); drawPager(); });
  model.on("change:page", drawPager);
  model.on("change:status", drawCount);
  model.on("change:live", drawCount);
  model.on("change:ops", drawOps);

  el.append(h("div", { class: "memscan-head" }, count), h("div", {}, value, ops), status, table, pager,
    h("style", {}, `.memscan-scan-explorer{font-family:monospace;font-size:12px}
      .memscan-count{font-weight:bold;font-size:14px}
      .memscan-table td,.memscan-table th{padding:1px 8px;text-align:right}
      .memscan-selected{background:#ffe9a8}.memscan-ops button{margin:2px}
      .memscan-status{color:#555;margin:4px 0}`));
  value.value = model.get("value");
  drawOps(); drawTable(); drawPager(); drawCount();
}

export default { render };
