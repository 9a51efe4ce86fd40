// chainrule serve: the page. Plain ES module, no build step, nothing loaded from elsewhere.
// The server does every computation; this file draws what the JSON API returns.

import { startTable } from "./table.js";

const $ = (selector) => document.querySelector(selector);
// table: the Row tab's { refresh, predict } when the server serves a table (table.js), else null.
const state = { server: null, pixels: null, label: null, curves: null, events: null, table: null };

// --- talking to the server -----------------------------------------------------------

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function say(element, text, ok = false) {
  element.textContent = text;
  element.classList.toggle("ok", ok);
}

// --- small drawing helpers -----------------------------------------------------------

function drawGrey(canvas, values, side) {
  // values in [0, 1], row by row, drawn as a side x side image scaled to the canvas.
  const small = document.createElement("canvas");
  small.width = small.height = side;
  const ctx = small.getContext("2d");
  const image = ctx.createImageData(side, side);
  values.forEach((v, i) => {
    const g = Math.round(255 * Math.max(0, Math.min(1, v)));
    image.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(image, 0, 0);
  const out = canvas.getContext("2d");
  out.imageSmoothingEnabled = false;
  out.clearRect(0, 0, canvas.width, canvas.height);
  out.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function drawSigned(canvas, values, side) {
  // Red for positive, blue for negative, scaled by the largest |value|.
  const scale = Math.max(1e-12, ...values.map(Math.abs));
  const small = document.createElement("canvas");
  small.width = small.height = side;
  const ctx = small.getContext("2d");
  const image = ctx.createImageData(side, side);
  values.forEach((v, i) => {
    const t = Math.min(1, Math.abs(v) / scale);
    const rgb = v >= 0 ? [255, 255 * (1 - t), 255 * (1 - t)] : [255 * (1 - t), 255 * (1 - t), 255];
    image.data.set([...rgb.map(Math.round), 255], 4 * i);
  });
  ctx.putImageData(image, 0, 0);
  const out = canvas.getContext("2d");
  out.imageSmoothingEnabled = false;
  out.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function bars(container, values, { signed = false, highlight = null, digits = 3 } = {}) {
  const scale = Math.max(1e-12, ...values.map(Math.abs));
  container.replaceChildren(...values.map((v, i) => {
    const row = document.createElement("div");
    row.className = "bar" + (i === highlight ? " top" : "");
    const fill = document.createElement("div");
    fill.className = "fill" + (signed ? (v >= 0 ? " up" : " down") : "");
    const width = 100 * Math.abs(v) / (signed ? scale : 1);
    fill.style.width = `${signed ? width / 2 : width}%`;
    fill.style.left = signed ? (v >= 0 ? "50%" : `${50 - width / 2}%`) : "0";
    const track = document.createElement("div");
    track.className = "track";
    track.append(fill);
    const name = document.createElement("span");
    name.textContent = i;
    const value = document.createElement("span");
    value.textContent = (signed && v > 0 ? "+" : "") + v.toFixed(digits);
    row.append(name, track, value);
    return row;
  }));
}

function neuronStrip(values, { signed = false, top = 5 } = {}) {
  // One square per neuron, wrapped in rows of up to 32: brightness |value| / max.
  const n = values.length, perRow = Math.min(32, n), cell = 14;
  const rows = Math.ceil(n / perRow);
  const canvas = document.createElement("canvas");
  canvas.width = perRow * cell;
  canvas.height = rows * cell;
  const ctx = canvas.getContext("2d");
  const scale = Math.max(1e-12, ...values.map(Math.abs));
  const strongest = [...values.keys()].sort((a, b) => Math.abs(values[b]) - Math.abs(values[a])).slice(0, top);
  values.forEach((v, i) => {
    const t = Math.abs(v) / scale, x = (i % perRow) * cell, y = Math.floor(i / perRow) * cell;
    ctx.fillStyle = signed
      ? (v >= 0 ? `rgba(217,72,15,${t})` : `rgba(28,126,214,${t})`)
      : `rgb(${Math.round(255 * t)},${Math.round(220 * t)},${Math.round(60 * t)})`;
    ctx.fillRect(x + 1, y + 1, cell - 2, cell - 2);
    if (strongest.includes(i)) {
      ctx.strokeStyle = "#2f6fde";
      ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, y + 1, cell - 2, cell - 2);
    }
  });
  return canvas;
}

function layerBlock(title, values, options) {
  const block = document.createElement("div");
  block.className = "layer";
  const heading = document.createElement("div");
  heading.textContent = title;
  block.append(heading, neuronStrip(values, options));
  return block;
}

// --- the drawing pad -------------------------------------------------------------------

const pad = $("#pad");
const ink = pad.getContext("2d", { willReadFrequently: true });
let drawing = false, last = null, inFlight = false, again = false;

function clearPad() {
  ink.fillStyle = "#000";
  ink.fillRect(0, 0, pad.width, pad.height);
  state.pixels = null;
  $("#prediction").textContent = "–";
  $("#probabilities").replaceChildren();
  $("#activations").replaceChildren();
  $("#nudges").hidden = true;
  say($("#pad-message"), "");
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

function stroke(to) {
  ink.strokeStyle = "#fff";
  ink.lineWidth = 20;
  ink.lineCap = ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(...(last || to));
  ink.lineTo(...to);
  ink.stroke();
  last = to;
}

function gridPixels() {
  // The pad as GRID x GRID ink levels in [0, 1]: the mean of each block of pixels.
  const side = state.server.grid_side, block = pad.width / side;
  const data = ink.getImageData(0, 0, pad.width, pad.height).data;
  const out = new Array(side * side).fill(0);
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      out[Math.floor(y / block) * side + Math.floor(x / block)] += data[4 * (y * pad.width + x)];
    }
  }
  return out.map((v) => Math.min(1, v / (255 * block * block)));
}

async function predict() {
  if (inFlight) { again = true; return; }
  inFlight = true;
  try {
    state.pixels = gridPixels();
    const result = await api("/api/predict", { pixels: state.pixels });
    showPrediction(result);
    if (state.label !== null) await showNudges();
    say($("#pad-message"), "");
  } catch (error) {
    say($("#pad-message"), error.message);
  } finally {
    inFlight = false;
    if (again) { again = false; predict(); }
  }
}

function showPrediction(result) {
  $("#prediction").textContent = result.prediction;
  bars($("#probabilities"), result.probabilities, { highlight: result.prediction });
  drawGrey($("#input-view"), result.input, result.input_side);
  $("#input-caption").textContent = `what the network sees (${result.input_side}x${result.input_side})`;
  const n = result.layers.length;
  $("#activations").replaceChildren(...result.layers.map((layer, i) => layerBlock(
    `${i + 1 === n ? "output" : "hidden"} layer ${i + 1}: ${layer.size} ${layer.activation} neurons`,
    layer.a, {})));
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  last = null;
  pad.setPointerCapture?.(event.pointerId);
  stroke(point(event));
});
pad.addEventListener("pointermove", (event) => { if (drawing) stroke(point(event)); });
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    predict();  // on every stroke
  });
}
$("#clear").addEventListener("click", clearPad);

// --- Backprop ----------------------------------------------------------------------------

async function showNudges() {
  if (!state.pixels) { say($("#pad-message"), "draw a digit first"); return; }
  const n = await api("/api/nudges", { pixels: state.pixels, label: state.label });
  $("#nudges").hidden = false;
  $("#nudges-summary").textContent =
    `label ${n.label}, predicted ${n.prediction}, loss ${n.loss.toFixed(4)}: ${n.output_note}`;
  bars($("#output-nudges"), n.output, { signed: true, highlight: n.label });
  $("#hidden-nudges").replaceChildren(...n.hidden.map((h, i) => layerBlock(
    `hidden layer ${i + 1}: ${h.length} neurons (red: push up, blue: push down)`, h, { signed: true })).reverse());
  $("#pushes tbody").replaceChildren(...n.pushes.map((p) => {
    const row = document.createElement("tr");
    const name = p.k === null ? `b[${p.j}] of layer ${p.layer}` : `w[${p.j},${p.k}] of layer ${p.layer}`;
    for (const text of [name, p.gradient.toExponential(3), p.delta_j.toFixed(4), p.a_k.toFixed(4),
      `${(100 * p.share).toFixed(1)}%`]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  }));
  drawSigned($("#saliency"), n.saliency, n.input_side);
}

function labelButtons(nClasses) {
  $("#label-buttons").replaceChildren(...Array.from({ length: nClasses }, (_, k) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = k;
    button.dataset.label = k;
    button.addEventListener("click", async () => {
      state.label = k;
      document.querySelectorAll("#label-buttons button").forEach((b) => b.classList.toggle("chosen", b === button));
      try { await showNudges(); } catch (error) { say($("#pad-message"), error.message); }
    });
    return button;
  }));
}

$("#step").addEventListener("click", async () => {
  try {
    const r = await api("/api/step", {
      pixels: state.pixels, label: state.label, learning_rate: Number($("#step-lr").value),
    });
    $("#step-result").textContent =
      `one step of gradient descent (lr ${r.learning_rate}): p(${r.label}) ${r.before[r.label].toFixed(4)} → ` +
      `${r.after[r.label].toFixed(4)}, loss ${r.loss_before.toFixed(4)} → ${r.loss_after.toFixed(4)}, ` +
      `prediction ${r.prediction_before} → ${r.prediction_after}`;
    await predict();
  } catch (error) {
    $("#step-result").textContent = error.message;
  }
});

// --- Train -------------------------------------------------------------------------------

function drawChart(svg, series, { low = null, high = null } = {}) {
  const W = 420, H = 220, left = 44, right = 10, top = 10, bottom = 24;
  const all = series.flatMap((s) => s.values);
  const n = Math.max(0, ...series.map((s) => s.values.length));
  svg.dataset.points = n;
  if (!all.length) { svg.replaceChildren(); return; }
  let lo = low ?? Math.min(...all), hi = high ?? Math.max(...all);
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const x = (i) => left + (n <= 1 ? 0 : (i / (n - 1)) * (W - left - right));
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom);
  const ns = "http://www.w3.org/2000/svg";
  const make = (tag, attributes, text) => {
    const element = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, v);
    if (text !== undefined) element.textContent = text;
    return element;
  };
  const children = [
    make("line", { class: "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }),
    make("line", { class: "axis", x1: left, y1: top, x2: left, y2: H - bottom }),
    make("text", { x: 2, y: top + 10 }, hi.toPrecision(3)),
    make("text", { x: 2, y: H - bottom }, lo.toPrecision(3)),
    make("text", { x: W - right - 60, y: H - 6 }, `epoch ${n}`),
  ];
  series.forEach((s, k) => {
    children.push(make("line", { class: s.kind, x1: W - 150 + 75 * k, y1: 14, x2: W - 130 + 75 * k, y2: 14 }));
    children.push(make("text", { x: W - 126 + 75 * k, y: 18 }, s.name));
    if (!s.values.length) return;
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    children.push(make("polyline", { class: s.kind, points }));
  });
  svg.replaceChildren(...children);
}

function drawCurves() {
  const c = state.curves;
  drawChart($("#loss-chart"), [{ name: "train", kind: "train", values: c.loss },
    { name: "validation", kind: "val", values: c.val_loss }], { low: 0 });
  drawChart($("#accuracy-chart"), [{ name: "train", kind: "train", values: c.accuracy },
    { name: "validation", kind: "val", values: c.val_accuracy }], { high: 1 });
}

function showWarnings(warnings) {
  // The watchdog's warnings of the run (a loss rising, an accuracy at chance, ...), one banner each.
  const box = $("#train-warnings");
  box.replaceChildren(...warnings.map((w) => {
    const p = document.createElement("p");
    p.className = "banner";
    p.dataset.kind = w.kind;
    p.textContent = `warning (epoch ${w.epoch}): ${w.message}`;
    return p;
  }));
  box.hidden = !warnings.length;
}

function showJob(job) {
  const active = job && ["running", "paused", "stopping"].includes(job.status);
  $("#train-start").disabled = active;
  $("#train-pause").disabled = !(job && job.status === "running");
  $("#train-resume").disabled = !(job && job.status === "paused");
  $("#train-stop").disabled = !(job && ["running", "paused"].includes(job.status));
  if (!job) return;
  showWarnings(job.warnings || []);
  const done = job.epochs_done + (job.batches ? Math.min(job.batch, job.batches) / job.batches : 0);
  $("#train-progress").value = Math.min(1, job.status === "done" ? 1 : done / job.epochs);
  const c = state.curves;
  const accuracy = c.val_accuracy.length ? `, validation accuracy ${(100 * c.val_accuracy.at(-1)).toFixed(2)}%` : "";
  const error = job.error ? `: ${job.error}` : "";
  $("#train-status").textContent = `${job.status}${error}: epoch ${Math.min(job.epochs_done + 1, job.epochs)} of ` +
    `${job.epochs}, batch ${job.batch} of ${job.batches}${accuracy} (${job.seconds.toFixed(1)} s)`;
}

function follow() {
  // Stream the job's events; the stream begins with every point so far and ends with the job.
  state.events?.close();
  state.curves = { loss: [], accuracy: [], val_loss: [], val_accuracy: [] };
  const source = new EventSource("/api/train/events");
  state.events = source;
  let watched = false;  // whether this page saw the run going (not only its replay)
  source.addEventListener("progress", (event) => {
    const job = JSON.parse(event.data);
    watched ||= ["running", "paused", "stopping"].includes(job.status);
    for (const point of job.points) {
      for (const key of Object.keys(state.curves)) if (key in point) state.curves[key].push(point[key]);
    }
    drawCurves();
    showJob(job);
  });
  source.addEventListener("end", async () => {
    source.close();
    if (!watched) return;
    await refreshState();  // the run's network is now the live model
    predictAgain();
  });
  source.addEventListener("idle", () => source.close());
}

function trainingSettings() {
  const form = new FormData($("#train-form"));
  const text = String(form.get("hidden")).trim();
  return {
    hidden: text ? text.split(",").map((s) => Number(s.trim())) : [],
    activation: form.get("activation"), loss: form.get("loss"), optimizer: form.get("optimizer"),
    learning_rate: Number(form.get("learning_rate")), batch_size: Number(form.get("batch_size")),
    epochs: Number(form.get("epochs")),
  };
}

$("#train-start").addEventListener("click", async () => {
  try {
    await api("/api/train", trainingSettings());
    follow();
  } catch (error) {
    $("#train-status").textContent = error.message;
  }
});
for (const action of ["pause", "resume", "stop"]) {
  $(`#train-${action}`).addEventListener("click", async () => {
    try {
      const job = await api(`/api/train/${action}`, {});
      showJob(job);
    } catch (error) {
      $("#train-status").textContent = error.message;
    }
  });
}

// --- the models folder -----------------------------------------------------------------

function showModels(names, selected) {
  // Keep the user's choice when the list is redrawn, unless a model is named.
  const choice = selected ?? $("#model-list").value;
  $("#model-list").replaceChildren(...names.map((name) => {
    const option = document.createElement("option");
    option.textContent = option.value = name;
    option.selected = name === choice;
    return option;
  }));
}

$("#save").addEventListener("click", async () => {
  try {
    const r = await api("/api/models/save", { name: $("#save-name").value, overwrite: $("#save-overwrite").checked });
    showModels(r.models, r.saved);
    say($("#models-message"), `saved ${r.saved}`, true);
    await refreshState();
  } catch (error) {
    say($("#models-message"), error.message);
  }
});

$("#load").addEventListener("click", async () => {
  try {
    const r = await api("/api/models/load", { name: $("#model-list").value });
    say($("#models-message"), `loaded ${r.loaded}`, true);
    await refreshState();
    predictAgain();
  } catch (error) {
    say($("#models-message"), error.message);
  }
});

// --- Inspect ------------------------------------------------------------------------------

async function inspect() {
  const r = await api("/api/inspect");
  $("#inspect-summary").textContent = `test accuracy ${(100 * r.accuracy).toFixed(2)}% on ${r.n_test} examples ` +
    `(loss ${r.loss.toFixed(4)}), ${r.n_wrong} mistakes; ${r.weights.length} of ${r.n_neurons} first-layer neurons shown`;
  $("#weights").replaceChildren(...r.weights.map((w, j) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 56;
    canvas.title = `neuron ${j}`;
    drawSigned(canvas, w, r.side);
    return canvas;
  }));
  const header = document.createElement("tr");
  header.append(document.createElement("th"), ...r.confusion.map((_, j) => {
    const th = document.createElement("th");
    th.textContent = j;
    return th;
  }));
  const peak = Math.max(...r.confusion.flat());
  $("#confusion").replaceChildren(header, ...r.confusion.map((row, i) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = i;
    tr.append(th, ...row.map((count, j) => {
      const td = document.createElement("td");
      td.textContent = count;
      const t = count / peak;
      td.style.background = i === j ? `rgba(47,111,222,${t})` : `rgba(217,72,15,${Math.min(1, 4 * t)})`;
      return td;
    }));
    return tr;
  }));
  $("#wrong").replaceChildren(...r.wrong.map((w) => {
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 56;
    drawGrey(canvas, w.pixels, r.side);
    const caption = document.createElement("figcaption");
    caption.textContent = `${w.label}→${w.predicted} ${(100 * w.confidence).toFixed(0)}%`;
    figure.append(canvas, caption);
    return figure;
  }));
}

$("#inspect-refresh").addEventListener("click", () => inspect().catch((e) => say($("#inspect-summary"), e.message)));

// --- tabs and start-up ------------------------------------------------------------------

document.querySelectorAll("[role=tab]").forEach((tab) => tab.addEventListener("click", () => {
  document.querySelectorAll("[role=tab]").forEach((t) => t.setAttribute("aria-selected", String(t === tab)));
  document.querySelectorAll(".tab").forEach((panel) => { panel.hidden = panel.id !== `tab-${tab.dataset.tab}`; });
  if (tab.dataset.tab === "inspect") inspect().catch((e) => say($("#inspect-summary"), e.message));
}));

function predictAgain() {
  // After the live model changed: the row (or the drawing) again, through it.
  if (state.table) state.table.predict();
  else if (state.pixels) predict();
}

function tableMode(s) {
  // A table: the Row tab (table.js) in place of the pad and of Draw, Backprop and Inspect,
  // and the Train tab with the settings of a TabularModel (the task decides the loss).
  $("#pad-column").hidden = true;
  for (const tab of ["draw", "backprop", "inspect"]) $(`[data-tab=${tab}]`).hidden = true;
  $("[data-tab=row]").hidden = false;
  $("#train-loss").hidden = true;
  const form = $("#train-form"), d = s.train_defaults;
  form.elements.hidden.value = d.hidden.join(",");
  for (const name of ["activation", "optimizer", "learning_rate", "batch_size", "epochs"]) form.elements[name].value = d[name];
  $("#validation-note").textContent = "Validation: 20% of the table's rows held out (stratified by class), with " +
    "early stopping on its loss. When a run ends (or is stopped), its model becomes the one the Row tab uses.";
  state.table = startTable(s, { api, say });
  $("[data-tab=row]").click();
}

async function refreshState() {
  const s = await api("/api/state");
  state.server = s;
  const data = s.kind === "table" ? `table ${s.dataset}, target ${s.target.join(", ")} (${s.task})` : `data set ${s.dataset}`;
  $("#model-info").textContent = `${data}; model ${s.model.name ?? "(not saved)"}: ${s.model.description}`;
  state.table?.refresh(s);
  document.querySelectorAll(".dataset-name").forEach((e) => { e.textContent = s.dataset; });
  showModels(s.models, $("#model-list").value ? undefined : s.model.name);
  return s;
}

async function start() {
  clearPad();
  const s = await refreshState();
  if (s.kind === "table") tableMode(s);
  else labelButtons(s.n_classes);
  state.curves = { loss: [], accuracy: [], val_loss: [], val_accuracy: [] };
  if (s.job) follow();
  document.body.dataset.ready = "true";
}

start().catch((error) => { $("#model-info").textContent = error.message; });
