// Helpers shared by every memscan widget; _base.esm() puts this file in front of each widget's
// module, so a widget module is this file followed by its own code.

/** An element: h("button", { class: "x", onclick: fn }, "text", child). */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "value") e.value = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** A count with thousands separators: 1,234,567. */
function fmtCount(n) {
  return Number(n).toLocaleString("en-US");
}

/** "1 candidate", "2,000 candidates". */
function plural(n, one, many = `${one}s`) {
  return `${fmtCount(n)} ${n === 1 ? one : many}`;
}

/** Bytes in binary units, as memscan.display.human_bytes writes them: 512 B, 4.0 KiB. */
function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${Number(n).toLocaleString("en-US")} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** 0x-prefixed hex of an address given as a number or a decimal/hex string (exact via BigInt). */
function hex(a) {
  return `0x${BigInt(a).toString(16)}`;
}

/** The status line: text with a kind (info, error, busy); never left stale by the caller. */
function setStatus(node, text, kind) {
  node.className = `memscan-status memscan-status-${kind || "info"}`;
  node.replaceChildren();
  if (kind === "busy") node.append(h("span", { class: "memscan-spinner", "aria-hidden": "true" }));
  node.append(text || "");
}
