// chainrule serve --data FILE: the Row tab, a form of the table's columns in place of the
// drawing pad. Edit a value and the server answers with the prediction and the row's nudges
// by column (chainrule.explain.table_nudges). The helpers of app.js come in as arguments.

const $ = (selector) => document.querySelector(selector);

function namedBars(container, names, values, { signed = false, digits = 3, highlight = null } = {}) {
  // One bar per value, labelled by name: [0, 1] as is, signed values scaled by the largest |value|.
  const scale = Math.max(1e-12, ...values.map(Math.abs));
  container.replaceChildren(...values.map((v, i) => {
    const row = document.createElement("div");
    row.className = "bar" + (names[i] === highlight ? " top" : "");
    const fill = document.createElement("div");
    fill.className = "fill" + (signed ? (v >= 0 ? " up" : " down") : "");
    const width = 100 * Math.abs(v) / (signed ? scale : 1);
    fill.style.width = `${signed ? width / 2 : width}%`;
    fill.style.left = signed ? (v >= 0 ? "50%" : `${50 - width / 2}%`) : "0";
    const track = document.createElement("div");
    track.className = "track";
    track.append(fill);
    const name = document.createElement("span");
    name.textContent = names[i];
    const value = document.createElement("span");
    value.textContent = signed ? (v > 0 ? "+" : "") + v.toExponential(2) : v.toFixed(digits);
    row.append(name, track, value);
    return row;
  }));
}

function cells(values) {
  const row = document.createElement("tr");
  for (const text of values) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  return row;
}

const shown = (value) => (value === null ? "(missing)" : String(value));

export function startTable(server, { api, say }) {
  // Builds the form for server (the /api/state answer) and returns { refresh, predict }.
  let columns = [], task = null, classes = null, inFlight = false, again = false;

  function input(column, value) {
    // A number input for a numeric column, a select of the training categories for a
    // categorical (values kept as JSON, so 3 stays a number and "3" a string), text for hashed.
    const label = document.createElement("label");
    label.textContent = column.name;
    let field;
    if (column.kind === "categorical") {
      field = document.createElement("select");
      const options = [...column.categories.map((c) => [JSON.stringify(c), String(c)]), ["null", "(missing)"]];
      field.replaceChildren(...options.map(([v, text]) => {
        const option = document.createElement("option");
        option.value = v;
        option.textContent = text;
        return option;
      }));
      field.value = JSON.stringify(value ?? null);
      if (field.selectedIndex < 0) field.value = "null";  // a category the select does not hold
    } else {
      field = document.createElement("input");
      field.type = column.kind === "numeric" ? "number" : "text";
      if (column.kind === "numeric") field.step = "any";
      field.value = value ?? "";
    }
    field.name = column.name;
    field.dataset.kind = column.kind;
    field.addEventListener(column.kind === "categorical" ? "change" : "input", predict);
    label.append(field);
    return label;
  }

  function currentRow() {
    const row = {};
    for (const field of $("#row-form").elements) {
      if (field.dataset.kind === "categorical") row[field.name] = JSON.parse(field.value);
      else if (field.dataset.kind === "numeric") row[field.name] = field.value === "" ? null : Number(field.value);
      else row[field.name] = field.value === "" ? null : field.value;
    }
    return row;
  }

  function currentTarget() {
    const field = $("#row-target");
    if (!field || field.value === "") return null;
    return task === "regression" ? Number(field.value) : JSON.parse(field.value);
  }

  function buildTarget() {
    // The target the loss is taken against: a class (or the prediction), a value, or none.
    const holder = $("#row-target-holder");
    let field = null;
    if (task === "classification") {
      field = document.createElement("select");
      const options = [["", "(the prediction)"], ...classes.map((c) => [JSON.stringify(c), String(c)])];
      field.replaceChildren(...options.map(([v, text]) => {
        const option = document.createElement("option");
        option.value = v;
        option.textContent = text;
        return option;
      }));
    } else if (task === "regression") {
      field = document.createElement("input");
      field.type = "number";
      field.step = "any";
      field.placeholder = "its value";
    }
    holder.replaceChildren();
    if (!field) return;
    field.id = "row-target";
    field.addEventListener(task === "regression" ? "input" : "change", predict);
    const label = document.createElement("label");
    label.textContent = `nudges toward ${server.target.join(", ")} = `;
    label.append(field);
    holder.append(label);
  }

  function refresh(s) {
    // (Re)build the form for the live model, keeping the values already typed in.
    const values = $("#row-form").elements.length ? currentRow() : null;
    server = s;
    columns = s.columns;
    const changed = task !== s.task || JSON.stringify(classes) !== JSON.stringify(s.classes);
    task = s.task;
    classes = s.classes;
    $("#row-form").replaceChildren(...columns.map((c) => input(c, values ? values[c.name] : null)));
    if (changed) buildTarget();
    $("#row-index").max = s.n_rows - 1;
  }

  async function loadRow() {
    try {
      const r = await api("/api/row", { index: Number($("#row-index").value) });
      $("#row-form").replaceChildren(...columns.map((c) => input(c, r.row[c.name])));
      $("#row-own-target").textContent = `its ${server.target.join(", ")} in the table: ${r.target.map(shown).join(", ")}`;
      await predict();
    } catch (error) {
      say($("#row-message"), error.message);
    }
  }

  async function predict() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      show(await api("/api/predict", { row: currentRow(), target: currentTarget() }));
      say($("#row-message"), "");
    } catch (error) {
      say($("#row-message"), error.message);
    } finally {
      inFlight = false;
      if (again) { again = false; predict(); }
    }
  }

  function show(r) {
    $("#row-prediction").textContent = Array.isArray(r.prediction) ? r.prediction.join(", ") : String(r.prediction);
    if (r.probabilities) namedBars($("#row-probabilities"), classes.map(String), r.probabilities,
      { highlight: String(r.prediction) });
    else $("#row-probabilities").replaceChildren();
    const n = r.nudges;
    $("#row-nudges").hidden = !n;
    if (!n) { $("#row-nudges-summary").textContent = r.note; return; }
    $("#row-nudges-summary").textContent = `loss ${n.loss.toPrecision(4)} against ${server.target.join(", ")} = ` +
      `${shown(n.target)} (${n.target_note})`;
    namedBars($("#column-saliency"), n.columns.map((c) => `${c.name} = ${shown(c.value)}`),
      n.columns.map((c) => c.saliency), { signed: true });
    $("#column-table tbody").replaceChildren(...n.columns.map((c) => cells([c.name, shown(c.value),
      c.saliency.toExponential(3), c.per_unit === null ? "–" : c.per_unit.toExponential(3)])));
    $("#row-pushes tbody").replaceChildren(...n.pushes.map((p) => cells([
      `w[${p.j},${p.k}] of layer 1`, p.source, p.gradient.toExponential(3), `${(100 * p.share).toFixed(1)}%`])));
  }

  $("#row-load").addEventListener("click", loadRow);
  refresh(server);
  loadRow();
  return { refresh, predict };
}
