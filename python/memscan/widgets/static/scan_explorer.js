// ScanExplorer: first-scan form, next scans (operator and values kept apart), step history with
// undo, a paged sortable table, hex/decimal, write/freeze/add-to-list for the selected rows.
const PAGE_SIZES = [10, 20, 50, 100, 500];
const QUICK = ["increased", "decreased", "changed", "unchanged"];
const COLS = [
  ["index", "#"], ["address", "address"], ["module", "module + offset", "left"],
  ["region", "region", "left"], ["value", "value"], ["current", "current"],
  ["previous", "previous"], ["frozen", "frozen"],
];
const SORTABLE = ["value", "previous"];

function render({ model, el }) {
  el.classList.add("memscan-widget", "memscan-scan-explorer");
  const send = (msg) => model.send(msg);
  const set = (k, v) => { model.set(k, v); model.save_changes(); };
  let lastClicked = null;

  // -- first scan form ------------------------------------------------------------------
  const typeSel = h("select", { class: "memscan-type", "aria-label": "value type" });
  const firstOp = h("select", { class: "memscan-first-op", "aria-label": "first scan operator" });
  const firstV1 = h("input", { type: "text", class: "memscan-first-value", size: "12", placeholder: "value" });
  const firstV2 = h("input", { type: "text", class: "memscan-first-value2", size: "10" });
  const firstBtn = h("button", { class: "memscan-first memscan-primary" }, "First scan");
  firstBtn.onclick = () => {
    const n = arity(model.get("first_ops"), firstOp.value);
    send({ action: "first", type: typeSel.value, op: firstOp.value, values: [firstV1.value, firstV2.value].slice(0, n) });
  };

  // -- next scan form -------------------------------------------------------------------
  const nextOp = h("select", { class: "memscan-next-op", "aria-label": "next scan operator" });
  const nextV1 = h("input", { type: "text", class: "memscan-value", size: "12", placeholder: "value" });
  const nextV2 = h("input", { type: "text", class: "memscan-value2", size: "10" });
  const nextBtn = h("button", { class: "memscan-next memscan-primary" }, "Next scan");
  nextBtn.onclick = () => {
    const n = arity(model.get("next_ops"), nextOp.value);
    set("op", nextOp.value);
    send({ action: "next", op: nextOp.value, values: [nextV1.value, nextV2.value].slice(0, n) });
  };
  const quick = QUICK.map((op) => h("button", {
    class: `memscan-op memscan-op-${op}`, "data-op": op, title: `next scan: ${op} (no value)`,
    onclick: () => send({ action: "next", op, values: [] }),
  }, op));
  const undoBtn = h("button", { class: "memscan-undo", onclick: () => send({ action: "undo" }) }, "Undo");
  for (const [input, key] of [[nextV1, "value"], [nextV2, "value2"]]) {
    input.addEventListener("change", () => set(key, input.value));
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") nextBtn.click(); });
  }
  for (const input of [firstV1, firstV2]) input.addEventListener("keydown", (e) => { if (e.key === "Enter") firstBtn.click(); });
  nextOp.addEventListener("change", () => { set("op", nextOp.value); shapeInputs(); });
  firstOp.addEventListener("change", shapeInputs);

  // -- table, pager, actions ------------------------------------------------------------
  const title = h("span", { class: "memscan-title memscan-count" });
  const info = h("span", { class: "memscan-muted memscan-info" });
  const steps = h("div", { class: "memscan-steps memscan-row" });
  const status = h("div", { class: "memscan-status", role: "status" });
  const notes = h("div", { class: "memscan-notes" });
  const table = h("table", { class: "memscan-table memscan-mono" });
  const pager = h("div", { class: "memscan-pager memscan-row" });
  const pageBox = h("input", { type: "number", class: "memscan-page", min: "1", style: "width:6em", "aria-label": "page" });
  pageBox.addEventListener("change", () => goto(Number(pageBox.value) - 1));
  const sizeSel = h("select", { class: "memscan-page-size", "aria-label": "rows per page" },
    ...PAGE_SIZES.map((n) => h("option", { value: String(n) }, `${n} rows`)));
  sizeSel.addEventListener("change", () => set("page_size", Number(sizeSel.value)));
  const hexBox = h("input", { type: "checkbox", class: "memscan-hex" });
  hexBox.addEventListener("change", () => set("hex", hexBox.checked));
  const live = h("input", { type: "checkbox", class: "memscan-live" });
  live.addEventListener("change", () => set("live", live.checked));
  const writeBox = h("input", { type: "text", class: "memscan-write-value", placeholder: "new value", size: "10" });
  const selInfo = h("span", { class: "memscan-muted memscan-selection" });
  const act = (action, withValue) => () => send({ action, indices: model.get("selected"), value: withValue ? writeBox.value : undefined });
  const writeBtn = h("button", { class: "memscan-write", onclick: act("write", true) }, "Write");
  const freezeBtn = h("button", { class: "memscan-freeze", onclick: act("freeze", true), title: "hold at the new value, or at the current one when empty" }, "Freeze");
  const releaseBtn = h("button", { class: "memscan-release", onclick: act("release", false), title: "release the selected rows, or every freeze when none is selected" }, "Release");
  const addBtn = h("button", { class: "memscan-add", onclick: act("add", false) }, "Add to list");
  const refreshBtn = h("button", { class: "memscan-refresh", onclick: () => send({ action: "refresh" }) }, "Refresh");
  const listInfo = h("span", { class: "memscan-muted memscan-list-size" });
  const actions = h("div", { class: "memscan-row memscan-actions" }, selInfo, writeBox, writeBtn, freezeBtn,
    releaseBtn, addBtn, listInfo);

  function arity(ops, op) {
    const hit = ops.find((o) => o[0] === op);
    return hit ? hit[2] : 0;
  }

  function placeholders(op, a, b) {
    a.placeholder = op === "between" ? "low" : op.endsWith("_by") ? "by how much" : "value";
    b.placeholder = op === "near" ? "± tolerance" : "high";
  }

  function shapeInputs() {
    for (const [sel, ops, a, b] of [[firstOp, "first_ops", firstV1, firstV2], [nextOp, "next_ops", nextV1, nextV2]]) {
      const n = arity(model.get(ops), sel.value);
      a.style.display = n >= 1 ? "" : "none";
      b.style.display = n >= 2 ? "" : "none";
      placeholders(sel.value, a, b);
    }
  }

  function fillSelects() {
    typeSel.replaceChildren(...model.get("types").map((t) => h("option", { value: t }, t)));
    typeSel.value = model.get("value_type");
    firstOp.replaceChildren(...model.get("first_ops").map(([op, label]) => h("option", { value: op }, label)));
    nextOp.replaceChildren(...model.get("next_ops").map(([op, label]) => h("option", { value: op }, label)));
    nextOp.value = model.get("op");
    shapeInputs();
  }

  function pages() {
    return Math.max(1, Math.ceil(model.get("count") / model.get("page_size")));
  }

  function goto(p) {
    set("page", Math.min(Math.max(Number.isFinite(p) ? p : 0, 0), pages() - 1));
  }

  function shown(v, col) {
    if (v === "" || v === undefined) return col === "previous" || col === "current" ? "—" : "";
    const vt = model.get("value_type");
    if (!model.get("hex") || vt.startsWith("f") || !["value", "current", "previous", "frozen"].includes(col)) return v;
    const bits = Number(vt.slice(1));
    return `0x${BigInt.asUintN(bits, BigInt(v)).toString(16)}`;
  }

  function select(index, e) {
    let sel = model.get("selected").slice();
    if (e.shiftKey && lastClicked !== null) {
      const ids = model.get("rows").map((r) => r.index);
      const [a, b] = [ids.indexOf(lastClicked), ids.indexOf(index)].sort((x, y) => x - y);
      if (a >= 0) sel = [...new Set([...sel, ...ids.slice(a, b + 1)])];
    } else if (e.ctrlKey || e.metaKey) {
      sel = sel.includes(index) ? sel.filter((i) => i !== index) : [...sel, index];
    } else {
      sel = sel.length === 1 && sel[0] === index ? [] : [index];
    }
    lastClicked = index;
    set("selected", sel);
  }

  function drawTable() {
    const rows = model.get("rows");
    const sel = new Set(model.get("selected"));
    const sort = model.get("sort");
    const sortable = model.get("sortable");
    const head = COLS.map(([key, label, align]) => {
      const can = SORTABLE.includes(key);
      const mark = sort === key ? " ▲" : sort === `-${key}` ? " ▼" : "";
      const th = h("th", {
        class: `${align === "left" ? "memscan-left" : ""} ${can && sortable ? "memscan-sortable" : ""}`,
        title: can ? (sortable ? "sort" : "sorting is offered for sparse sets up to 2,000,000 candidates") : undefined,
      }, label + mark);
      if (can && sortable) th.onclick = () => set("sort", sort === key ? `-${key}` : sort === `-${key}` ? "" : key);
      return th;
    });
    const body = rows.map((r) => h("tr", {
      class: sel.has(r.index) ? "memscan-selected" : "", "data-index": String(r.index),
      onclick: (e) => select(r.index, e),
    }, ...COLS.map(([key, , align]) => {
      const td = h("td", { class: align === "left" ? "memscan-left" : "" });
      if (key === "index") td.append(fmtCount(r.index));
      else if (key === "frozen") { if (r.frozen !== "") td.append(h("span", { class: "memscan-badge memscan-frozen" }, `❄ ${shown(r.frozen, key)}`)); }
      else if (key === "module") td.append(r.module || "—");
      else td.append(shown(r[key], key));
      return td;
    })));
    const empty = model.get("scanned")
      ? "no candidates left: undo a step or start a new scan"
      : "no scan yet: choose a type, an operator and a value, then press First scan";
    table.replaceChildren(h("thead", {}, h("tr", {}, ...head)),
      h("tbody", {}, ...(rows.length ? body : [h("tr", {}, h("td", { class: "memscan-left memscan-muted", colspan: String(COLS.length) }, empty))])));
  }

  function drawSteps() {
    const list = model.get("steps");
    steps.replaceChildren(h("span", { class: "memscan-muted" }, "Steps:"),
      ...(list.length ? list.map((s, i) => {
        const last = i === list.length - 1;
        return h("button", {
          class: `memscan-step${last ? " memscan-active" : ""}`, "data-step": String(i),
          disabled: last || undefined, title: last ? "current step" : "undo back to this step",
          onclick: () => send({ action: "undo", to_step: i }),
        }, `${i + 1}. ${s.description} → ${fmtCount(s.count)}`);
      }) : [h("span", { class: "memscan-muted" }, "none")]), undoBtn);
    undoBtn.disabled = list.length < 2;
  }

  function drawPager() {
    const p = model.get("page");
    const n = pages();
    pageBox.value = String(p + 1);
    pageBox.max = String(n);
    sizeSel.value = String(model.get("page_size"));
    if (!PAGE_SIZES.includes(model.get("page_size"))) sizeSel.append(h("option", { value: String(model.get("page_size")) }, `${model.get("page_size")} rows`));
    sizeSel.value = String(model.get("page_size"));
    hexBox.checked = model.get("hex");
    live.checked = model.get("live");
    pager.replaceChildren(
      h("button", { class: "memscan-first-page", onclick: () => goto(0), disabled: p === 0 || undefined, title: "first page" }, "«"),
      h("button", { class: "memscan-prev", onclick: () => goto(p - 1), disabled: p === 0 || undefined, title: "previous page" }, "‹"),
      "page", pageBox, `of ${fmtCount(n)}`,
      h("button", { class: "memscan-next-page", onclick: () => goto(p + 1), disabled: p >= n - 1 || undefined, title: "next page" }, "›"),
      h("button", { class: "memscan-last-page", onclick: () => goto(n - 1), disabled: p >= n - 1 || undefined, title: "last page" }, "»"),
      sizeSel, h("label", {}, hexBox, "hex"), h("label", {}, live, "live"), refreshBtn,
    );
  }

  function drawHead() {
    const n = model.get("count");
    title.textContent = model.get("scanned") ? plural(n, "candidate") : "No scan yet";
    info.textContent = model.get("scanned") ? `${model.get("value_type")} · ${model.get("memory")}` : "";
    const sel = model.get("selected");
    selInfo.textContent = sel.length ? `${plural(sel.length, "row")} selected:` : "select rows (click, ctrl/shift-click):";
    listInfo.textContent = `address list: ${plural(model.get("list_size"), "entry", "entries")}`;
    firstBtn.textContent = model.get("scanned") ? "New scan" : "First scan";
    typeSel.value = model.get("value_type");
    notes.replaceChildren(...model.get("notes").map((t) => h("div", { class: "memscan-note" }, t)));
  }

  function drawBusy() {
    const busy = model.get("busy");
    el.classList.toggle("memscan-busy", Boolean(busy));
    const scanned = model.get("scanned");
    for (const b of [firstBtn, nextBtn, ...quick, writeBtn, freezeBtn, releaseBtn, addBtn, refreshBtn]) b.disabled = Boolean(busy);
    for (const b of [nextBtn, ...quick, writeBtn, freezeBtn, addBtn]) if (!scanned) b.disabled = true;
    const none = model.get("selected").length === 0;
    for (const b of [writeBtn, freezeBtn, addBtn]) if (none) b.disabled = true;
    undoBtn.disabled = Boolean(busy) || model.get("steps").length < 2;
    setStatus(status, model.get("status"), model.get("status_kind"));
  }

  model.on("change:rows", drawTable);
  model.on("change:hex", () => { drawTable(); drawPager(); });
  model.on("change:sort", drawTable);
  model.on("change:sortable", drawTable);
  model.on("change:selected", () => { drawTable(); drawHead(); drawBusy(); });
  model.on("change:steps", () => { drawSteps(); drawBusy(); });
  for (const k of ["count", "page", "page_size", "live"]) model.on(`change:${k}`, () => { drawPager(); drawHead(); });
  for (const k of ["memory", "notes", "list_size", "value_type", "scanned"]) model.on(`change:${k}`, () => { drawHead(); drawBusy(); });
  for (const k of ["status", "status_kind", "busy"]) model.on(`change:${k}`, drawBusy);
  model.on("change:op", () => { nextOp.value = model.get("op"); shapeInputs(); });

  el.append(
    h("div", { class: "memscan-row memscan-head" }, title, info),
    h("div", { class: "memscan-row memscan-first-form" }, h("span", { class: "memscan-muted" }, "Scan for"), typeSel, firstOp, firstV1, firstV2, firstBtn),
    h("div", { class: "memscan-row memscan-next-form" }, h("span", { class: "memscan-muted" }, "Narrow:"), nextOp, nextV1, nextV2, nextBtn,
      h("span", { class: "memscan-muted" }, "or"), ...quick),
    steps, status, notes, table, pager, actions,
  );
  nextV1.value = model.get("value");
  nextV2.value = model.get("value2");
  fillSelects();
  drawHead(); drawSteps(); drawTable(); drawPager(); drawBusy();
}

export default { render };
