// fieldnotes review page. All data is inserted with textContent, never as HTML.
"use strict";
// The session is a cookie set when the one-time login link was opened: fetches send it.
let codebook = null;
let items = [];
let current = 0;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(path, body) {
  const options = { headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function codeName(id) {
  const code = codebook.codes.find((c) => c.id === id);
  return code ? code.name : id;
}

function filterQuery() {
  const form = new FormData(document.getElementById("filters"));
  const query = new URLSearchParams();
  for (const [key, value] of form.entries()) if (value) query.set(key, value);
  return query.toString();
}

function reading() {
  return document.getElementById("view").value === "read";
}

// Each load is numbered: an answer that comes back after a later load started (the view or a
// filter changed meanwhile) is dropped, so a slow answer never paints over what was asked last.
let loadSeq = 0;

// Returns whether the item shown before is still in the list (a filter may have dropped it).
async function load(keepPosition = false) {
  const seq = ++loadSeq;
  if (reading()) { await loadDocument(keepPosition, seq); return false; }
  const data = await api("/api/items?" + filterQuery());
  if (seq !== loadSeq) return false;
  const previous = items[current];
  items = data.items;
  let kept = false;
  if (keepPosition && previous) {
    const again = items.findIndex((i) => i.excerpt_id === previous.excerpt_id && i.code_id === previous.code_id);
    kept = again >= 0;
    current = kept ? again : Math.max(0, Math.min(current, items.length - 1));
  } else current = 0;
  fillFacets(data.facets);
  showProgress(data.progress);
  renderList();
  renderDetail();
  return kept;
}

function fillFacets(facets) {
  const fill = (name, values, label = (v) => v) => {
    const select = document.querySelector(`#filters [name=${name}]`);
    if (select.options.length > 1) return;
    for (const value of values) select.append(el("option", { value }, label(value)));
  };
  fill("site", facets.sites);
  fill("document", facets.documents);
  fill("code", codebook.codes.map((c) => c.id), codeName);
}

function showProgress(progress) {
  const total = progress.reduce((n, p) => n + p.total, 0);
  const reviewed = progress.reduce((n, p) => n + p.reviewed, 0);
  const box = document.getElementById("progress");
  box.textContent = `${reviewed} / ${total} reviewed`;
  box.title = progress.map((p) => `${codeName(p.code_id)}: ${p.reviewed}/${p.total}`).join("\n");
}

function renderList() {
  const list = document.getElementById("list");
  list.replaceChildren();
  items.forEach((item, index) => {
    const row = el("div", { class: "item" + (index === current ? " current" : ""), onclick: () => { current = index; renderList(); renderDetail(); } },
      el("div", { class: "code" }, codeName(item.code_id), el("span", { class: "badge " + item.status }, item.status)),
      el("div", { class: "snippet" }, item.text));
    list.append(row);
  });
  const active = list.querySelector(".current");
  if (active) active.scrollIntoView({ block: "nearest" });
}

function renderDetail() {
  const detail = document.getElementById("detail");
  detail.replaceChildren();
  const item = items[current];
  if (!item) { detail.append(el("p", {}, "Nothing to review with these filters.")); return; }
  const code = codebook.codes.find((c) => c.id === item.code_id) || { name: item.code_id, definition: "" };
  // Offsets from the server count characters (code points); JavaScript strings count UTF-16 units.
  const chars = Array.from(item.passage_text);
  const from = item.start - item.passage_start;
  const to = item.end - item.passage_start;
  const passage = el("div", { class: "passage", id: "passage", "data-passage": item.passage_id, "data-offset": item.passage_start },
    chars.slice(0, from).join(""), el("mark", {}, chars.slice(from, to).join("")), chars.slice(to).join(""));
  const recode = el("select", { "aria-label": "Change code to" }, el("option", { value: "" }, "change code to…"),
    ...codebook.codes.filter((c) => c.id !== item.code_id).map((c) => el("option", { value: c.id }, c.name)));
  recode.addEventListener("change", () => recode.value && act({ action: "recode", excerpt_id: item.excerpt_id, code: item.code_id, new_code: recode.value }));
  const addCode = el("select", { "aria-label": "Add a code to the selected text" }, el("option", { value: "" }, "add code to selection…"),
    ...codebook.codes.map((c) => el("option", { value: c.id }, c.name)));
  addCode.addEventListener("change", () => addSelection(addCode.value));
  const memo = el("textarea", { placeholder: "memo", "aria-label": "Memo" });
  memo.value = item.memo || "";
  // A memo is saved as soon as the box loses focus (moving on, clicking elsewhere): typed work is never dropped.
  memo.addEventListener("change", () => saveMemo(item, memo.value));
  detail.append(
    el("h2", {}, code.name, el("span", { class: "badge " + item.status }, item.status)),
    el("div", { class: "meta" }, `${item.document} · ${item.site}` + (item.section ? ` · ${item.section}` : "") + (item.score === null ? " · added by hand" : ` · score ${Number(item.score).toFixed(2)}`)),
    el("div", { class: "definition" }, code.definition),
    passage,
    el("div", { class: "rationale" }, item.rationale),
    el("details", { class: "legend" }, el("summary", {}, "What the numbers mean"),
      el("p", {}, "score: how strongly the tool suggests this code (the suggestion is shown from the threshold up). " +
        "rule: 1 when one of the code's keywords or patterns matched, else 0. " +
        "example_max: similarity (0 to 1) to the code's closest example sentence; definition: to its definition. " +
        "learned: the probability (0 to 1) a classifier trained on the codebook's labelled excerpts and on your decisions gives. " +
        "counter: similarity to the code's counter-examples, which lowers the score.")),
    el("div", { class: "actions" },
      el("button", { class: "accept", onclick: () => act({ action: "accept", excerpt_id: item.excerpt_id, code: item.code_id }) }, "Accept (a)"),
      el("button", { class: "reject", onclick: () => act({ action: "reject", excerpt_id: item.excerpt_id, code: item.code_id }) }, "Reject (r)"),
      el("button", { onclick: () => act({ action: "undo" }) }, "Undo (u)"),
      el("button", { onclick: () => moveSpan(item), title: "Select the right text in the passage first" }, "Move span to selection"),
      recode, addCode),
    memo,
    el("div", { class: "actions" }, el("button", { onclick: () => saveMemo(item, memo.value) }, "Save memo"),
      el("span", { class: "saved", id: "saved", "aria-live": "polite" })),
    el("div", { class: "error", id: "error", role: "alert" }));
}

// The selected text inside the passage as character offsets in the document (or null, with a message).
function selectedSpan() {
  const selection = window.getSelection();
  // The passage the selection starts in: the one shown for a suggestion, or any passage of a document.
  const anchor = selection.rangeCount ? selection.getRangeAt(0).startContainer : null;
  const startNode = anchor && (anchor.nodeType === Node.ELEMENT_NODE ? anchor : anchor.parentElement);
  const passage = (startNode && startNode.closest(".passage")) || document.getElementById("passage");
  if (!passage || !selection.rangeCount || !selection.getRangeAt(0).intersectsNode(passage) || selection.isCollapsed) {
    showError("Select text inside the passage first.");
    return null;
  }
  const range = selection.getRangeAt(0).cloneRange(); // a drag past the passage's ends keeps only its part
  if (!passage.contains(range.startContainer)) range.setStart(passage, 0);
  if (!passage.contains(range.endContainer)) range.setEnd(passage, passage.childNodes.length);
  const before = document.createRange();
  before.setStart(passage, 0);
  before.setEnd(range.startContainer, range.startOffset);
  const length = (text) => Array.from(text).length; // characters, as the server counts them, not UTF-16 units
  const start = Number(passage.dataset.offset) + length(before.toString());
  return { passage_id: passage.dataset.passage, start, end: start + length(range.toString()) };
}

// --- reading a whole document --------------------------------------------------------------------

let shownDocument = null;

async function loadDocument(keepPosition = false, seq = ++loadSeq) {
  const wanted = document.querySelector("#filters [name=document]").value;
  const data = await api("/api/document?" + new URLSearchParams(wanted ? { document: wanted } : {}).toString());
  if (seq !== loadSeq) return;
  fillFacets({ sites: [], documents: data.documents });
  const scroll = keepPosition && shownDocument === data.document ? document.getElementById("detail").scrollTop : 0;
  shownDocument = data.document;
  renderDocumentList(data);
  renderDocument(data);
  document.getElementById("detail").scrollTop = scroll;
}

function renderDocumentList(data) {
  const list = document.getElementById("list");
  list.replaceChildren();
  for (const path of data.documents) {
    const row = el("div", { class: "item" + (path === data.document ? " current" : ""), onclick: () => {
      document.querySelector("#filters [name=document]").value = path;
      loadDocument();
    } }, el("div", { class: "snippet" }, path));
    list.append(row);
  }
  const active = list.querySelector(".current");
  if (active) active.scrollIntoView({ block: "nearest" });
}

// A passage's text with the spans that carry a code or suggestion marked; each mark names its codes.
function passageWithCodings(passage) {
  const chars = Array.from(passage.text);
  const cuts = new Set([0, chars.length]);
  for (const c of passage.codings) {
    cuts.add(Math.max(0, c.start - passage.start));
    cuts.add(Math.min(chars.length, c.end - passage.start));
  }
  const bounds = [...cuts].sort((a, b) => a - b);
  const box = el("div", { class: "passage", "data-passage": passage.passage_id, "data-offset": passage.start });
  for (let i = 0; i < bounds.length - 1; i++) {
    const [from, to] = [bounds[i], bounds[i + 1]];
    const text = chars.slice(from, to).join("");
    const over = passage.codings.filter((c) => c.start - passage.start <= from && c.end - passage.start >= to);
    if (!over.length) { box.append(text); continue; }
    const decided = over.some((c) => c.status === "accepted") ? "accepted" : over.every((c) => c.status === "rejected") ? "rejected" : "suggested";
    box.append(el("mark", { class: "coded " + decided, title: over.map((c) => `${codeName(c.code_id)} (${c.status})`).join("\n") }, text));
  }
  return box;
}

function renderDocument(data) {
  const detail = document.getElementById("detail");
  detail.replaceChildren();
  const addCode = el("select", { "aria-label": "Add a code to the selected text" }, el("option", { value: "" }, "add code to selection…"),
    ...codebook.codes.map((c) => el("option", { value: c.id }, c.name)));
  addCode.addEventListener("change", () => addSelection(addCode.value));
  detail.append(
    el("h2", {}, data.document),
    el("div", { class: "meta" }, `${data.passages.length} passages · select text in any passage, then pick a code`),
    el("div", { class: "actions sticky" }, addCode, el("button", { onclick: () => act({ action: "undo" }) }, "Undo (u)"),
      el("span", { class: "saved", id: "saved", "aria-live": "polite" })),
    el("div", { class: "error", id: "error", role: "alert" }));
  let section = null;
  for (const passage of data.passages) {
    if (passage.section && passage.section !== section) detail.append(el("h3", { class: "section" }, passage.section));
    section = passage.section;
    const codes = passage.codings.map((c) => el("span", { class: "badge " + c.status }, `${codeName(c.code_id)}: ${c.status}`));
    detail.append(el("div", { class: "meta" }, passage.site, ...codes), passageWithCodings(passage));
  }
}

function addSelection(codeId) {
  const span = codeId && selectedSpan();
  if (span) act({ action: "add", code: codeId, ...span }).then((saved) => saved &&
    showSaved(reading() ? `Added "${codeName(codeId)}" to the selection (accepted).`
      : `Added "${codeName(codeId)}" to the selection (accepted; listed under status "accepted" or "all").`));
}

function saveMemo(item, text) {
  // The button and leaving the box both save: the text being saved counts, so it is sent once.
  const known = item.savingMemo !== undefined ? item.savingMemo : item.memo || "";
  if (known === text) return;
  item.savingMemo = text;
  act({ action: "memo", excerpt_id: item.excerpt_id, code: item.code_id, memo: text }).then((saved) => {
    if (item.savingMemo === text) item.savingMemo = undefined;
    if (!saved) return; // the error is on the page; the text is still in the box
    item.memo = text; // shown again when the researcher comes back to this item
    showSaved("Memo saved.");
  });
}

function showSaved(message) {
  const box = document.getElementById("saved");
  if (box) box.textContent = message;
}

function moveSpan(item) {
  const span = selectedSpan();
  if (span) act({ action: "span", excerpt_id: item.excerpt_id, code: item.code_id, ...span });
}

function showError(message) {
  const box = document.getElementById("error");
  if (box) box.textContent = message;
}

// Actions run one after another. A key press becomes an action only when its turn comes, on the item current
// then, so quick presses (a, a, r) decide successive items instead of the same one twice.
let queue = Promise.resolve();
function act(body) {
  queue = queue.then(() => send(typeof body === "function" ? body() : body));
  return queue;
}

async function send(body) {
  if (!body) return;
  try {
    await api("/api/act", body);
    if (body.action === "memo") return true; // nothing else changed: the page stays where it is
    const move = body.action === "accept" || body.action === "reject";
    const kept = await load(true);
    // Move on after a decision, unless the filter already dropped the decided item (the next one is shown).
    if (move && kept && current < items.length - 1) { current += 1; renderList(); renderDetail(); }
    return true;
  } catch (error) { showError(error.message); return false; }
}

document.addEventListener("keydown", (event) => {
  if (["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return; // Ctrl+A selects all, Ctrl+R reloads: not decisions
  const key = event.key;
  if (!["j", "k", "a", "r", "u"].includes(key)) return;
  if (reading() && key !== "u") return; // a document is read, not stepped through suggestion by suggestion
  act(() => {
    const item = items[current];
    if (key === "j" && current < items.length - 1) { current += 1; renderList(); renderDetail(); }
    else if (key === "k" && current > 0) { current -= 1; renderList(); renderDetail(); }
    else if (key === "a" && item) return { action: "accept", excerpt_id: item.excerpt_id, code: item.code_id };
    else if (key === "r" && item) return { action: "reject", excerpt_id: item.excerpt_id, code: item.code_id };
    else if (key === "u") return { action: "undo" };
    return null;
  });
});

document.getElementById("filters").addEventListener("change", () => load());
// Enter in a filter box applies the filters; the browser's own submit would leave the page
// (a GET without the session token).
document.getElementById("filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });

(async () => {
  try {
    codebook = await api("/api/codebook");
    document.getElementById("who").textContent = `${codebook.name} · coder: ${codebook.coder}`;
    await load();
  } catch (error) {
    document.getElementById("detail").append(el("p", { class: "error" }, "Cannot load: " + error.message));
  }
})();
