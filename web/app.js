// The info card: runs carton.wasm (Go, package wasm) and renders what
// carton.getModelInfo returns. ?carton=URL opens that carton at once.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function shape(s) {
  if (s === "*" || s == null) return "any";
  if (typeof s === "string") return s;
  return "[" + s.map((d) => (d === "*" ? "any" : d)).join(", ") + "]";
}

function tensorTable(specs) {
  const t = el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "dtype"), el("th", {}, "shape"), el("th", {}, "description")));
  for (const s of specs || []) {
    t.append(el("tr", { "data-tensor": s.name }, el("td", {}, el("code", {}, s.name)), el("td", {}, s.dtype),
      el("td", {}, shape(s.shape)), el("td", {}, s.description || "")));
  }
  return t;
}

function image(info, name) {
  const blob = info.misc[name];
  if (!blob || !blob.type.startsWith("image/")) return null;
  return el("img", { src: URL.createObjectURL(blob), alt: name, "data-misc": name });
}

function render(info) {
  const card = $("card");
  card.replaceChildren();
  card.append(el("h2", { id: "model-name" }, info.model_name || "(unnamed model)"));
  if (info.short_description) card.append(el("p", { id: "short-description" }, info.short_description));
  const dl = el("dl", {});
  const row = (k, v) => v && dl.append(el("dt", {}, k), el("dd", {}, v));
  row("runner", `${info.runner.runner_name} ${info.runner.required_framework_version}`);
  row("license", info.license);
  row("repository", info.repository && el("a", { href: info.repository }, info.repository));
  row("homepage", info.homepage && el("a", { href: info.homepage }, info.homepage));
  row("platforms", (info.required_platforms || []).join(", "));
  row("manifest", el("code", {}, info.manifest_sha256));
  card.append(dl);
  if (info.model_description) card.append(el("p", {}, info.model_description));
  card.append(el("h3", {}, "Inputs"), tensorTable(info.input), el("h3", {}, "Outputs"), tensorTable(info.output));
  const tests = info.self_test || [];
  if (tests.length) {
    const ul = el("ul", { id: "self-tests" });
    for (const t of tests) ul.append(el("li", {}, t.name || "(unnamed)", t.description ? ": " + t.description : ""));
    card.append(el("h3", {}, "Self-tests"), ul);
  }
  const examples = info.example || [];
  if (examples.length) {
    const ul = el("ul", { id: "examples" });
    for (const ex of examples) {
      const li = el("li", {}, ex.name || "(unnamed)", ex.description ? ": " + ex.description : "");
      for (const ref of Object.values({ ...ex.inputs, ...ex.sample_out })) {
        if (typeof ref === "string" && ref.startsWith("@misc/")) {
          const img = image(info, ref.slice(1));
          if (img) li.append(el("br"), img);
        }
      }
      ul.append(li);
    }
    card.append(el("h3", {}, "Examples"), ul);
  }
  const pictures = (info.misc_files || []).map((n) => [n, image(info, n)]).filter(([, img]) => img);
  if (pictures.length) {
    const g = el("div", { class: "gallery", id: "misc" });
    for (const [n, img] of pictures) g.append(el("figure", {}, img, el("figcaption", {}, n)));
    card.append(el("h3", {}, "Files"), g);
  }
  card.hidden = false;
}

async function open(src, label) {
  const status = $("status");
  status.className = "";
  status.textContent = `Reading ${label}…`;
  document.body.dataset.state = "loading";
  try {
    render(await carton.getModelInfo(src));
    status.textContent = label;
    document.body.dataset.state = "ready";
  } catch (e) {
    $("card").hidden = true;
    status.className = "error";
    status.textContent = `${label}: ${e.message}`;
    document.body.dataset.state = "error";
  }
}

globalThis.onCartonReady = () => {
  $("status").textContent = "Open a carton by URL or from a file.";
  document.body.dataset.state = "idle";
  const q = new URLSearchParams(location.search).get("carton");
  if (q) open(new URL(q, location.href).href, q);
};

$("open").addEventListener("submit", (e) => {
  e.preventDefault();
  const u = $("url").value.trim();
  if (u) open(u, u);
});
$("file").addEventListener("change", async () => {
  const f = $("file").files[0];
  if (f) open(new Uint8Array(await f.arrayBuffer()), f.name);
});

const go = new Go();
WebAssembly.instantiateStreaming(fetch("carton.wasm"), go.importObject)
  .then((r) => go.run(r.instance))
  .catch((e) => { $("status").className = "error"; $("status").textContent = "carton.wasm: " + e; document.body.dataset.state = "error"; });
