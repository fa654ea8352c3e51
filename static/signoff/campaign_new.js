// The new-campaign form adapts as it is filled in: it shows only the fields of the chosen kind, offers only the
// model versions with predictions on the chosen dataset version, states the gate's plan (the "Preview the plan"
// button does the same without JavaScript) and draws the first task as a reviewer would see it, with the review
// screen's renderer. Built node by node: the only server HTML inserted is what SignoffRender inserts (sanitised).
(function () {
  "use strict";
  const form = document.getElementById("campaign-form");
  if (!form) return;
  const planBody = document.getElementById("plan-body");
  const previewBody = document.getElementById("task-preview-body");
  const versionsNote = document.getElementById("versions-note");
  const kindSelect = form.elements.kind;
  const datasetSelect = form.elements.dataset_version;
  const versionSelects = ["candidate", "baseline", "others"].map((name) => form.elements[name]);
  let timer = null;
  const asked = { plan: 0, preview: 0, versions: 0 };

  function line(text, className) {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }

  // --- fields of the chosen kind ------------------------------------------------------------------------------

  function showKindFields() {
    const kind = kindSelect.value;
    form.querySelectorAll("[data-kinds]").forEach((input) => {
      const shown = input.dataset.kinds.split(" ").includes(kind);
      input.closest(".field").hidden = !shown;
      input.disabled = !shown; // a disabled field is not sent: a baseline left from another kind does not count
    });
  }

  // --- model versions with predictions on the dataset version -------------------------------------------------

  async function filterVersions() {
    const mine = ++asked.versions;
    if (!datasetSelect.value) return allowVersions(null);
    const url = `${form.dataset.versionsUrl}?dataset_version=${encodeURIComponent(datasetSelect.value)}`;
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (mine !== asked.versions || !response.ok) return;
    const data = await response.json();
    allowVersions(new Set(data.model_versions.map((v) => String(v.id))));
  }

  function allowVersions(allowed) {
    for (const select of versionSelects) {
      for (const option of select.options) {
        if (!option.value) continue; // the empty choice stays
        const ok = allowed === null || allowed.has(option.value);
        option.hidden = !ok;
        option.disabled = !ok;
        if (!ok && option.selected) option.selected = false;
      }
    }
    if (allowed === null) versionsNote.textContent = "";
    else if (!allowed.size) {
      versionsNote.textContent = "No model version has predictions on this dataset version yet: upload them from a model version's page.";
    } else {
      versionsNote.textContent = `${allowed.size} model version${allowed.size === 1 ? " has" : "s have"} predictions on this dataset version; only ${allowed.size === 1 ? "it is" : "they are"} offered.`;
    }
  }

  // --- the gate's plan ----------------------------------------------------------------------------------------

  function showPlan(data) {
    const plan = data.plan;
    const each = plan.judgments_per_item > 1 ? `, ${plan.judgments_per_item} judgments each` : "";
    const nodes = [line(`${data.items} items${each}: power ${plan.power.toFixed(2)}; about ${Math.round(plan.expected_judgments.null)} ` +
      `items to a decision if the candidate is no better, ${Math.round(plan.expected_judgments.alternative)} if it is.`)];
    nodes[0].id = "plan-summary";
    if (typeof data.identical_items === "number") {
      // diff-first: the plan is for the changed items only
      const counts = line(`Only the ${data.items} items whose outputs differ are reviewed; ${data.identical_items} have identical outputs and are left out.`);
      counts.id = "plan-diff-counts";
      nodes.push(counts);
    }
    for (const warning of plan.warnings) {
      const p = line(warning, "warning");
      p.setAttribute("role", "note");
      nodes.push(p);
    }
    planBody.replaceChildren(...nodes);
  }

  async function post(url, which) {
    const mine = ++asked[which];
    const data = new FormData(form);
    data.delete("preview");
    const response = await fetch(url, { method: "POST", body: data, credentials: "same-origin" });
    const answer = await response.json().catch(() => null);
    if (mine !== asked[which]) return undefined; // a newer request is on its way
    return response.ok && answer ? answer : null;
  }

  async function refreshPlan() {
    const answer = await post(form.dataset.planUrl, "plan");
    if (answer === undefined) return;
    if (answer) showPlan(answer);
    else planBody.replaceChildren(line("The plan appears once the form is complete.", "muted"));
  }

  // --- the first task, as a reviewer sees it ------------------------------------------------------------------

  function pane(title, content, id) {
    const card = document.createElement("div");
    card.className = "card output";
    const heading = document.createElement("h3");
    heading.textContent = title;
    const body = document.createElement("div");
    body.className = "content pane";
    if (id) body.id = id;
    SignoffRender.render(body, content);
    card.append(heading, body);
    return card;
  }

  function showTask(task) {
    const item = document.createElement("div");
    item.className = "card item";
    const meta = document.createElement("div");
    meta.className = "item-meta muted";
    meta.textContent = "Item ";
    const code = document.createElement("code");
    code.textContent = task.item;
    meta.append(code);
    const input = document.createElement("div");
    input.className = "content";
    SignoffRender.render(input, task.input_content);
    item.append(meta);
    if (task.image_url) {
      const image = document.createElement("img");
      image.src = task.image_url;
      image.alt = "the item's image";
      image.className = "thumb";
      item.append(image);
    }
    item.append(input);
    const nodes = [item];
    if (task.outputs) {
      const outputs = document.createElement("div");
      outputs.className = "outputs";
      for (const output of task.outputs) outputs.append(pane(output.slot, output.content, `preview-output-${output.slot}`));
      nodes.push(outputs);
      if (task.kind === "pairwise" && task.outputs.length === 2) {
        SignoffRender.enhancePair(outputs.children[0].lastChild, outputs.children[1].lastChild,
          task.outputs[0].content, task.outputs[1].content);
      }
    }
    if (task.suggestion_content) nodes.push(pane("The model's suggestion", task.suggestion_content));
    if (task.labels && task.labels.length) nodes.push(line(`Labels: ${task.labels.join(" · ")}`, "muted"));
    if (task.rubric && task.rubric.length) {
      nodes.push(line(`Criteria: ${task.rubric.map((c) => `${c.name} (${c.scale})`).join(" · ")}`, "muted"));
    }
    previewBody.replaceChildren(...nodes);
  }

  async function refreshPreview() {
    const answer = await post(form.dataset.previewUrl, "preview");
    if (answer === undefined) return;
    if (answer && answer.task) showTask(answer.task);
    else if (answer && form.elements.items && form.elements.items.value === "changed" && kindSelect.value === "pairwise")
      // a diff-first campaign has a task only where the outputs differ
      previewBody.replaceChildren(line("No item has outputs that differ between the chosen versions.", "warning"));
    else if (answer) previewBody.replaceChildren(line("No item has an output from every chosen version.", "warning"));
    else previewBody.replaceChildren(line("Choose the dataset version and the model versions to see the first task.", "muted"));
  }

  // --- wiring -------------------------------------------------------------------------------------------------

  function refreshLater() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      refreshPlan().catch(() => {});
      refreshPreview().catch(() => {});
    }, 250);
  }

  form.addEventListener("change", (event) => {
    if (event.target === kindSelect) showKindFields();
    if (event.target === datasetSelect) {
      filterVersions().then(refreshLater).catch(() => {});
      return;
    }
    refreshLater();
  });

  showKindFields();
  if (datasetSelect.value) filterVersions().then(refreshLater).catch(() => {});
})();
