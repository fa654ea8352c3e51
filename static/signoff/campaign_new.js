// The new-campaign form states the gate's plan as it is filled in (the "Preview the plan" button does the same
// without JavaScript). Built node by node: no HTML from the server is inserted.
(function () {
  "use strict";
  const form = document.getElementById("campaign-form");
  if (!form) return;
  const body = document.getElementById("plan-body");
  let timer = null;
  let asked = 0;

  function line(text, className) {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }

  function show(data) {
    const plan = data.plan;
    const each = plan.judgments_per_item > 1 ? `, ${plan.judgments_per_item} judgments each` : "";
    const nodes = [line(`${data.items} items${each}: power ${plan.power.toFixed(2)}; about ${Math.round(plan.expected_judgments.null)} ` +
      `items to a decision if the candidate is no better, ${Math.round(plan.expected_judgments.alternative)} if it is.`)];
    nodes[0].id = "plan-summary";
    for (const warning of plan.warnings) {
      const p = line(warning, "warning");
      p.setAttribute("role", "note");
      nodes.push(p);
    }
    body.replaceChildren(...nodes);
  }

  async function refresh() {
    const mine = ++asked;
    const data = new FormData(form);
    data.delete("preview");
    const response = await fetch(form.dataset.planUrl, { method: "POST", body: data, credentials: "same-origin" });
    if (mine !== asked) return; // a newer request is on its way
    const answer = await response.json().catch(() => null);
    if (response.ok && answer) show(answer);
    else body.replaceChildren(line("The plan appears once the form is complete.", "muted"));
  }

  form.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(() => refresh().catch(() => {}), 250);
  });
})();
