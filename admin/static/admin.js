// The mapping admin page. Everything shown comes from the JSON API of the
// same server; every value is put into the page as text (never as HTML),
// since it comes from the archive.
"use strict";

const state = {
  view: "live",       // which conversion is shown: live or draft
  conv: null,         // the last /api/convert answer
  fieldNames: {},     // "RXA-5" → "Administered Code", from the shown message
  texts: {},          // mapping text by which (live, draft), for rule quotes
  selected: null,     // the selected leaf element
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function status(msg, isError) {
  $("status").textContent = msg || "";
  $("status").className = isError ? "error" : "";
}

// api calls the JSON API with the token, if any; a 401 shows the token form.
async function api(method, path, body) {
  const headers = {};
  const tok = sessionStorage.getItem("iisbridge-admin-token");
  if (tok) headers["Authorization"] = "Bearer " + tok;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (resp.status === 401) {
    $("login").hidden = false;
    throw new Error("this page needs the admin token");
  }
  if (!resp.ok && !(data && data.problems)) {
    let msg = resp.status + " " + resp.statusText;
    if (data && data.issue && data.issue[0]) msg = data.issue[0].diagnostics || (data.issue[0].details || {}).text || msg;
    throw new Error(msg);
  }
  return data;
}

async function guarded(fn) {
  try { await fn(); } catch (e) { status(e.message, true); }
}

// ---- header ----

async function loadInfo() {
  const info = await api("GET", "/api/info");
  $("liveName").textContent = info.live.name;
  $("liveHash").textContent = info.live.sha256.slice(0, 12);
  $("draftName").textContent = info.draft ? info.draft.name : "none";
  $("draftHash").textContent = info.draft ? info.draft.sha256.slice(0, 12) : "";
  $("viewDraft").disabled = !info.draft;
  if (!info.draft && state.view === "draft") setView("live");
  delete state.texts.draft;
  return info;
}

// ---- samples and conversion ----

async function loadSamples() {
  const list = await api("GET", "/api/samples");
  const sel = $("sample");
  sel.replaceChildren();
  for (const s of list) sel.append(el("option", { value: s.id }, s.label + " · " + s.type));
  $("showSample").disabled = list.length === 0;
  if (list.length === 0) {
    sel.append(el("option", { value: "" }, "no archive sample: paste a message"));
    $("pasteBox").open = true;
  }
  return list;
}

async function convert(req) {
  status("converting…");
  state.conv = await api("POST", "/api/convert", req);
  state.selected = null;
  renderMessage();
  renderOutput();
  $("detail").replaceChildren(el("p", { class: "hint" }, "Click an element of the FHIR output to see the source field and the rule that wrote it."));
  const n = (state.conv.deltas || []).length;
  status(state.conv.draft ? (n ? n + " element(s) differ between live and draft" : "live and draft give the same output") : "converted with the live mapping");
}

function renderMessage() {
  const box = $("segments");
  box.replaceChildren();
  state.fieldNames = {};
  $("msgWarnings").textContent = (state.conv.warnings || []).join("; ");
  for (const seg of state.conv.segments) {
    const rows = seg.fields.map((f) => {
      const key = seg.name + "-" + f.n;
      if (f.name) state.fieldNames[key] = f.name;
      return el("tr", { dataset: { seg: seg.name, n: f.n, order: seg.order } },
        el("td", { class: "fld" }, key), el("td", { class: "fname" }, f.name), el("td", { class: "val" }, f.value));
    });
    box.append(el("div", { class: "seg" },
      el("div", { class: "name" }, seg.name, seg.order ? el("small", {}, " ORDER " + seg.order) : null),
      el("table", {}, el("tbody", {}, rows))));
  }
}

function setView(v) {
  state.view = v;
  $("viewLive").classList.toggle("on", v === "live");
  $("viewDraft").classList.toggle("on", v === "draft");
  if (state.conv) renderOutput();
}

function current() {
  return state.view === "draft" && state.conv.draft ? state.conv.draft : state.conv.live;
}

// deltaIndex keys the live-vs-draft differences by resource and element.
function deltaIndex() {
  const idx = { elems: {}, resources: {} };
  for (const d of state.conv.deltas || []) {
    if (d.element === d.resource.split("/")[0]) idx.resources[d.resource] = d.kind;
    else idx.elems[d.resource + "|" + d.element] = d;
  }
  return idx;
}

function renderOutput() {
  const res = current();
  const idx = deltaIndex();
  const traceBy = {};
  for (const t of res.trace) traceBy[t.resource + "|" + t.element] = t;
  const box = $("resources");
  box.replaceChildren();
  if (res.resources.length === 0) box.append(el("p", { class: "hint" }, "No resources: the " + state.view + " mapping does not cover this message."));
  for (const r of res.resources) {
    const ref = r.resourceType + "/" + r.id;
    const cls = idx.resources[ref] === "added" ? " add" : "";
    const div = el("div", { class: "res" + cls, dataset: { ref } }, el("div", { class: "title" }, ref));
    div.append(tree(r, r.resourceType, ref, idx, traceBy));
    box.append(div);
  }
  // What the other side has that this one lacks.
  const changes = $("changes");
  changes.replaceChildren();
  const deltas = state.conv.deltas || [];
  if (state.conv.draft) {
    const removed = deltas.filter((d) => d.kind === "removed");
    const summary = deltas.length ? deltas.length + " difference(s) between live and draft; highlighted: changed, added" : "live and draft give the same output";
    changes.append(el("p", {}, summary));
    if (removed.length && state.view === "draft") {
      changes.append(el("p", {}, "Only in the live output:"),
        el("ul", {}, removed.map((d) => el("li", {}, d.element + (d.before ? " = " + d.before : "")))));
    }
  }
  // Issues.
  const ul = $("issues");
  ul.replaceChildren();
  if (res.issues.length === 0) ul.append(el("li", { class: "hint" }, "none"));
  for (const is of res.issues) {
    const where = [is.elements ? is.elements.join(", ") : "", is.field ? "source " + is.field : "", is.rule ? "rule " + is.rule : ""].filter(Boolean).join("; ");
    ul.append(el("li", { class: is.severity }, is.severity + " " + is.code + ": " + is.text, where ? el("br") : null, where ? el("small", {}, where) : null));
  }
  // Rules used, with how many elements each wrote.
  const counts = {};
  for (const t of res.trace) counts[t.rule] = (counts[t.rule] || 0) + 1;
  const rl = $("rules");
  rl.replaceChildren();
  const lines = state.texts[whichShown()];
  for (const rule of Object.keys(counts).sort(byLine)) {
    const at = parseInt(rule.split(":").pop(), 10);
    const text = lines && lines[at - 1] ? lines[at - 1].trim() : "";
    rl.append(el("li", { title: text, onclick: () => showRule(rule, $("detail")) }, rule, el("small", {}, " · " + counts[rule] + "× "), el("span", { class: "src" }, text)));
  }
  if (!lines) loadText(whichShown()).then(() => { if (current() === res) renderOutput(); }, () => {});
}

function whichShown() {
  return state.view === "draft" && state.conv && state.conv.draft ? "draft" : "live";
}

// loadText fetches a mapping's YAML once, for quoting its rules.
async function loadText(which) {
  if (!state.texts[which]) state.texts[which] = (await api("GET", "/api/mapping/" + which)).text.split("\n");
  return state.texts[which];
}

function byLine(a, b) {
  const la = parseInt(a.split(":").pop(), 10), lb = parseInt(b.split(":").pop(), 10);
  return la - lb;
}

// tree renders a JSON value; leaves are clickable and carry their FHIR
// path in the trace's form (Patient.name[0].family).
function tree(v, path, ref, idx, traceBy) {
  if (Array.isArray(v)) {
    return el("div", { class: "node" }, v.map((x, i) => item("[" + i + "]", x, path + "[" + i + "]", ref, idx, traceBy)));
  }
  if (v !== null && typeof v === "object") {
    return el("div", { class: "node" }, Object.entries(v).filter(([k]) => k !== "resourceType" || path.indexOf(".") >= 0)
      .map(([k, x]) => item(k, x, path + "." + k, ref, idx, traceBy)));
  }
  const d = idx.elems[ref + "|" + path];
  let cls = "leaf";
  if (d && state.view === "draft") cls += d.kind === "added" ? " add" : " chg";
  if (d && state.view === "live") cls += d.kind === "removed" ? " del" : (d.kind === "changed" ? " chg" : "");
  const t = traceBy[ref + "|" + path];
  return el("span", { class: cls, tabindex: "0", dataset: { path, ref }, onclick: (e) => select(e.currentTarget, v, t, d),
    onkeydown: (e) => { if (e.key === "Enter") select(e.currentTarget, v, t, d); } }, JSON.stringify(v));
}

function item(label, x, path, ref, idx, traceBy) {
  if (x !== null && typeof x === "object") {
    return el("div", {}, el("span", { class: "key" }, label + ":"), tree(x, path, ref, idx, traceBy));
  }
  return el("div", {}, el("span", { class: "key" }, label + ": "), tree(x, path, ref, idx, traceBy));
}

// select shows what is known of one element: its source field (and its
// name), the rule that wrote it (with its lines), and its live/draft values.
function select(node, value, t, d) {
  if (state.selected) state.selected.classList.remove("sel");
  node.classList.add("sel");
  state.selected = node;
  const detail = $("detail");
  const dl = el("dl", {},
    el("dt", {}, "element"), el("dd", { id: "detailElement" }, node.dataset.path),
    el("dt", {}, "value"), el("dd", {}, JSON.stringify(value)));
  if (t) {
    const fname = fieldNameOf(t.source);
    dl.append(el("dt", {}, "source"), el("dd", { id: "detailSource" }, t.source ? t.source + (fname ? " (" + fname + ")" : "") : "(constant)"),
      el("dt", {}, "rule"), el("dd", { id: "detailRule" }, t.rule));
  } else {
    dl.append(el("dt", {}, "source"), el("dd", { id: "detailSource" }, "(not traced: set by the engine, e.g. the id or meta)"));
  }
  if (d) dl.append(el("dt", {}, "live → draft"), el("dd", {}, (d.before || "(none)") + " → " + (d.after || "(none)")));
  detail.replaceChildren(dl);
  highlightSource(t ? t.source : "");
  if (t && t.rule) showRule(t.rule, detail, true);
}

function fieldNameOf(source) {
  const m = /([A-Z][A-Z0-9]{2})-(\d+)/.exec(source || "");
  return m ? state.fieldNames[m[1] + "-" + m[2]] || "" : "";
}

// highlightSource marks the message fields a trace source names, e.g.
// "ORDER[2] RXA-5" (RXA-5 of the second ORDER group) or "PID-5[1].1".
function highlightSource(source) {
  for (const tr of document.querySelectorAll("#segments tr.hit")) tr.classList.remove("hit");
  const m = /(?:ORDER\[(\d+)\]\s*)?.*?([A-Z][A-Z0-9]{2})-(\d+)/.exec(source || "");
  if (!m) return;
  let first = null;
  for (const tr of document.querySelectorAll("#segments tr")) {
    if (tr.dataset.seg === m[2] && tr.dataset.n === m[3] && (!m[1] || tr.dataset.order === m[1])) {
      tr.classList.add("hit");
      first = first || tr;
    }
  }
  if (first && first.scrollIntoView) first.scrollIntoView({ block: "nearest" });
}

// showRule quotes a rule's lines from the mapping that holds it.
async function showRule(rule, into, append) {
  await guarded(async () => {
    const lines = await loadText(whichShown());
    const at = parseInt(rule.split(":").pop(), 10);
    const pre = el("pre", { class: "rule", id: "ruleText" });
    for (let i = Math.max(1, at - 2); i <= Math.min(lines.length, at + 4); i++) {
      const line = String(i).padStart(4) + "  " + lines[i - 1] + "\n";
      pre.append(i === at ? el("span", { class: "at" }, line) : line);
    }
    const head = el("h3", {}, rule);
    if (append) into.append(head, pre); else into.replaceChildren(head, pre);
  });
}

// ---- draft and diff ----

async function checkDraft() {
  const res = await api("POST", "/api/draft", { yaml: $("draftText").value });
  const out = $("problems");
  if (res.problems) {
    out.textContent = res.problems.length + " problem(s):\n\n" + res.problems.map((p) => p.quote || p.text).join("\n\n");
    status("the draft has problems: it is not in use", true);
    return;
  }
  out.textContent = "";
  await loadInfo();
  status("draft in use: " + res.draft.rules + " rules");
  await reconvert();
}

let lastReq = null;
async function reconvert() {
  if (lastReq) await convert(lastReq);
}

async function runDiff() {
  status("running mapping diff…");
  const rep = await api("POST", "/api/diff", { sample: parseInt($("diffN").value, 10) || 0 });
  const out = $("diffOut");
  out.replaceChildren(el("p", { id: "diffSummary" }, "compared " + rep.messages + " message(s): " + rep.changed + " map differently"));
  const link = (ex) => el("a", { onclick: () => guarded(async () => { lastReq = { sample: ex.record }; $("sample").value = ex.record; await convert(lastReq); setView("draft"); window.scrollTo(0, 0); }) }, ex.where);
  if (rep.resources.length) {
    out.append(el("h3", {}, "Resources"), el("table", {}, el("tbody", {},
      el("tr", {}, el("th", {}, "type"), el("th", {}, "appeared"), el("th", {}, "vanished"), el("th", {}, "e.g.")),
      rep.resources.map((r) => el("tr", {}, el("td", {}, r.type), el("td", { class: "plus" }, "+" + r.appeared), el("td", { class: "minus" }, "-" + r.vanished),
        el("td", {}, r.examples.map((e) => el("div", {}, link(e)))))))));
  }
  if (rep.elements.length) {
    out.append(el("h3", {}, "Elements"), el("table", { id: "diffElements" }, el("tbody", {},
      el("tr", {}, el("th", {}, "change"), el("th", {}, "element"), el("th", {}, "resources"), el("th", {}, "values (before → after)"), el("th", {}, "e.g.")),
      rep.elements.map((e) => el("tr", {}, el("td", {}, e.kind), el("td", {}, e.element), el("td", {}, e.count),
        el("td", {}, e.values.map((v) => el("div", {}, (v.before || "(none)") + " → " + (v.after || "(none)") + " (" + v.count + ")"))),
        el("td", {}, link(e.example)))))));
  }
  if (rep.issues.length) {
    out.append(el("h3", {}, "Issues"), el("table", {}, el("tbody", {},
      el("tr", {}, el("th", {}, "appear / disappear"), el("th", {}, "severity"), el("th", {}, "issue"), el("th", {}, "rule"), el("th", {}, "e.g.")),
      rep.issues.map((i) => el("tr", {}, el("td", {}, (i.appeared ? "+" + i.appeared + " " : "") + (i.disappeared ? "-" + i.disappeared : "")),
        el("td", {}, i.severity), el("td", {}, i.kind), el("td", {}, i.rule || ""), el("td", {}, link(i.example)))))));
  }
  if (!rep.changed) out.append(el("p", {}, "No difference in resources, elements, values or issues."));
  status("mapping diff done");
}

// ---- start ----

function wire() {
  $("viewLive").addEventListener("click", () => setView("live"));
  $("viewDraft").addEventListener("click", () => setView("draft"));
  $("showSample").addEventListener("click", () => guarded(async () => {
    lastReq = { sample: parseInt($("sample").value, 10) };
    await convert(lastReq);
  }));
  $("sample").addEventListener("change", () => $("showSample").click());
  $("convertPaste").addEventListener("click", () => guarded(async () => {
    lastReq = { text: $("paste").value };
    await convert(lastReq);
  }));
  $("loadLive").addEventListener("click", () => guarded(async () => { $("draftText").value = (await api("GET", "/api/mapping/live")).text; }));
  $("loadDraft").addEventListener("click", () => guarded(async () => { $("draftText").value = (await api("GET", "/api/mapping/draft")).text; }));
  $("checkDraft").addEventListener("click", () => guarded(checkDraft));
  $("resetDraft").addEventListener("click", () => guarded(async () => { await api("DELETE", "/api/draft"); await loadInfo(); await reconvert(); status("back to the original draft"); }));
  $("runDiff").addEventListener("click", () => guarded(runDiff));
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("iisbridge-admin-token", $("token").value);
    $("token").value = "";
    $("login").hidden = true;
    start();
  });
}

async function start() {
  // A token may come in the fragment (#token=...), which never reaches
  // the server's logs; it is kept for this tab only.
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("iisbridge-admin-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  await guarded(async () => {
    const info = await loadInfo();
    const list = await loadSamples();
    if (list.length) {
      const first = list.find((s) => s.type.startsWith("VXU")) || list[0];
      $("sample").value = first.id;
      lastReq = { sample: first.id };
      await convert(lastReq);
    } else {
      status("no archive sample: paste a message");
    }
    if (info.draft) setView("draft");
    document.body.dataset.ready = "1";
  });
}

wire();
start();
