// The review page, for every campaign kind: show a task, take the judgment by key (or pointer), move on at once.
//
// Zero wait: the next task is fetched while the expert looks at the current one; a judgment is shown as done
// immediately and sent in the background from a small outbox, retried until the server has it. Each submission
// carries a client id, so a retry or a double press is counted once.
// Untrusted content: outputs reach the page only through SignoffRender (text nodes, or HTML the server sanitised).
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const kind = root.dataset.kind;
  const $ = (id) => document.getElementById(id);
  const api = {
    next: root.dataset.nextUrl,
    progress: root.dataset.progressUrl,
    judge: (task) => `/api/v1/tasks/${task}/judgments/`,
    skip: (task) => `/api/v1/tasks/${task}/skip/`,
    undo: (judgment) => `/api/v1/judgments/${judgment}/undo/`,
  };
  const statusLine = $("status");
  const comment = $("comment");

  const queue = []; // queue[0] is on screen; the rest are prefetched and already assigned to this reviewer
  const outbox = []; // submissions not yet acknowledged: {task, url, body, undoable}
  let sending = false;
  let prefetching = null;
  let shownAt = 0;
  let lastJudgment = null; // {id, task} of the latest acknowledged judgment, for undo
  let pair = null; // the side-by-side controller of the current pairwise task
  let ranking = null; // {order: [slot], tied: {slot: bool}, focus: index}
  let rating = null; // {values: {slot: {criterion: value}}, cursor: index, cells: [[slot, criterion]]}
  let exhausted = false;

  // ---- plumbing -------------------------------------------------------------------------------------------
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function request(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (e) {
        data = null;
      }
    }
    return { status: response.status, data };
  }

  function setStatus(text, isError) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("error", Boolean(isError));
  }

  function clientId() {
    return window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  function pendingTasks() {
    return outbox.map((entry) => entry.task);
  }

  // ---- fetching ---------------------------------------------------------------------------------------------
  async function fetchNext() {
    const exclude = queue.map((t) => t.task).concat(pendingTasks());
    const url = exclude.length ? `${api.next}?exclude=${exclude.join(",")}` : api.next;
    const { status, data } = await request("GET", url);
    if (status === 204) return null;
    if (status !== 200) throw new Error((data && data.message) || `Error ${status}`);
    return data;
  }

  function prefetch() {
    // one task ahead is enough to hide the round trip; the server allows two open per reviewer
    if (prefetching || queue.length >= 2 || outbox.length) return prefetching;
    prefetching = fetchNext()
      .then((task) => {
        if (task && !queue.some((t) => t.task === task.task)) queue.push(task);
        if (!task) exhausted = true;
        // "all done" only once every judgment is acknowledged: a prefetch that was already on its way can
        // come back empty while the last judgment is still being sent
        if (!queue.length && !outbox.length) showDone();
      })
      .catch((error) => setStatus(`Could not fetch the next task: ${error.message}`, true))
      .finally(() => {
        prefetching = null;
      });
    return prefetching;
  }

  async function advance() {
    queue.shift();
    if (queue.length) {
      show(queue[0]);
    } else if (!exhausted || outbox.length) {
      $("task").hidden = true;
      setStatus("Loading the next task…");
      await drain();
      exhausted = false;
      await prefetch();
      if (queue.length) show(queue[0]);
    } else {
      showDone();
    }
    drain().then(prefetch);
  }

  // ---- sending ----------------------------------------------------------------------------------------------
  async function drain() {
    if (sending) return waitForDrain();
    sending = true;
    try {
      let delay = 500;
      while (outbox.length) {
        const entry = outbox[0];
        let result;
        try {
          result = await request("POST", entry.url, entry.body);
        } catch (networkError) {
          setStatus(`Offline? ${outbox.length} judgment(s) waiting to be sent; retrying…`, true);
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 8000);
          continue;
        }
        if (result.status === 409 && result.data && result.data.code === "campaign_not_active") {
          // paused by the lead: the judgment is kept here and sent again once the campaign is resumed
          setStatus(`${result.data.message} ${outbox.length} judgment(s) kept; they are sent when it is resumed.`, true);
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 15000);
          continue;
        }
        outbox.shift();
        delay = 500;
        if (result.status === 200 || result.status === 201) {
          if (entry.undoable) lastJudgment = { id: result.data.id, task: entry.task };
          updateProgress(entry.undoable ? { done: 1 } : { skipped: 1 });
          if (!outbox.length) setStatus("");
        } else if (result.status === 409 && result.data && result.data.code === "already_judged") {
          // recorded before (a retry after a lost answer): nothing to do
        } else {
          setStatus(`Item ${entry.item} was not saved: ${(result.data && result.data.message) || "error " + result.status}`, true);
        }
      }
    } finally {
      sending = false;
    }
  }

  function waitForDrain() {
    return new Promise((resolve) => {
      const tick = () => (sending ? setTimeout(tick, 50) : resolve());
      tick();
    });
  }

  function submit(body, { url, undoable }) {
    const task = queue[0];
    if (!task) return;
    const entry = {
      task: task.task,
      item: task.item,
      url: url || api.judge(task.task),
      undoable: undoable !== false,
      body: Object.assign({ client_id: clientId(), comment: comment.value, duration_ms: Math.round(performance.now() - shownAt) }, body),
    };
    outbox.push(entry);
    advance();
  }

  // ---- showing ----------------------------------------------------------------------------------------------
  function updateProgress(delta) {
    const p = root.progress || { done: 0, left: 0, skipped: 0 };
    if (delta) {
      p.done += delta.done || 0;
      p.skipped += delta.skipped || 0;
      p.left = Math.max(0, p.left - (delta.done || 0) - (delta.skipped || 0));
    }
    root.progress = p;
    const quota = p.quota ? ` of your quota of ${p.quota}` : "";
    const left = p.left_is_lower_bound ? `${p.left}+` : String(p.left);
    $("progress").textContent = `${p.done} done${quota} · ${left} left for you` + (p.skipped ? ` · ${p.skipped} skipped` : "");
  }

  function show(task) {
    if (pair) pair.destroy();
    pair = null;
    $("item-id").textContent = task.item;
    const image = $("item-image");
    if (task.image_url) {
      image.src = task.image_url;
      image.hidden = false;
    } else {
      image.removeAttribute("src");
      image.hidden = true;
    }
    SignoffRender.render($("item-input"), task.input_content);
    if (task.progress) {
      root.progress = Object.assign({}, task.progress);
      root.progress.left = Math.max(0, task.progress.left - outbox.length);
      updateProgress();
    }
    if (kind === "pairwise") showPairwise(task);
    else if (kind === "ranking") showRanking(task);
    else if (kind === "rating") showRating(task);
    else showLabeling(task);
    comment.value = "";
    $("task").hidden = false;
    $("done").hidden = true;
    if (!outbox.length) setStatus("");
    shownAt = performance.now();
    if (document.activeElement && document.activeElement !== document.body && !root.contains(document.activeElement)) {
      document.activeElement.blur();
    }
    $("task").focus({ preventScroll: true });
  }

  function showDone() {
    queue.length = 0;
    $("task").hidden = true;
    $("done").hidden = false;
    setStatus("");
    $("done").querySelector("a").focus();
    explainDone();
  }

  // Why work ended (the gate decided, paused, closed, quota, every item taken), with the server's own counts.
  async function explainDone() {
    if (!api.progress) return;
    const { status, data } = await request("GET", api.progress).catch(() => ({ status: 0, data: null }));
    if (status !== 200 || !data) return;
    const titles = { gate_decided: "The gate decided", paused: "Paused", closed: "Closed", quota: "Quota reached" };
    $("done-title").textContent = titles[data.state] || "All done";
    if (data.message) $("done-reason").textContent = data.message;
    const p = data.progress;
    $("done-counts").textContent = `You judged ${p.done} item${p.done === 1 ? "" : "s"}` +
      (p.skipped ? ` and skipped ${p.skipped}` : "") + " in this campaign.";
    root.dataset.state = data.state;
  }

  // pairwise: two outputs side by side, with a word diff (d) or an image overlay (o) where they apply
  function showPairwise(task) {
    const byslot = Object.fromEntries(task.outputs.map((o) => [o.slot, o]));
    SignoffRender.render($("output-A"), byslot.A.content);
    SignoffRender.render($("output-B"), byslot.B.content);
    pair = SignoffRender.enhancePair($("output-A"), $("output-B"), byslot.A.content, byslot.B.content);
    $("hint-diff").hidden = !pair.hasDiff;
    $("hint-overlay").hidden = !pair.hasOverlay;
  }

  // ranking: cards in the current order; arrows move the focus, shift+arrows move the card, t ties it with the one above
  function showRanking(task) {
    ranking = { order: task.outputs.map((o) => o.slot), tied: {}, focus: 0, contents: {} };
    for (const output of task.outputs) ranking.contents[output.slot] = output.content;
    drawRanking();
  }

  function rankingGroups() {
    const groups = [];
    ranking.order.forEach((slot, index) => {
      if (index > 0 && ranking.tied[slot]) groups[groups.length - 1].push(slot);
      else groups.push([slot]);
    });
    return groups;
  }

  function drawRanking() {
    const list = $("ranking");
    list.replaceChildren();
    let place = 0;
    ranking.order.forEach((slot, index) => {
      if (!(index > 0 && ranking.tied[slot])) place += 1;
      const card = document.createElement("li");
      card.className = "card rank-card" + (index === ranking.focus ? " focused" : "") + (ranking.tied[slot] && index > 0 ? " tied" : "");
      card.draggable = true;
      card.dataset.slot = slot;
      card.setAttribute("aria-label", `Output ${slot}, place ${place}`);
      const head = document.createElement("div");
      head.className = "rank-head";
      const number = document.createElement("span");
      number.className = "rank-place";
      number.textContent = ranking.tied[slot] && index > 0 ? `= ${place}` : String(place);
      const label = document.createElement("strong");
      label.textContent = `Output ${slot}`;
      head.append(number, label);
      const body = document.createElement("div");
      body.className = "content";
      SignoffRender.render(body, ranking.contents[slot]);
      card.append(head, body);
      card.addEventListener("click", () => {
        ranking.focus = ranking.order.indexOf(slot);
        drawRanking();
      });
      card.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/plain", slot));
      card.addEventListener("dragover", (event) => event.preventDefault());
      card.addEventListener("drop", (event) => {
        event.preventDefault();
        const moved = event.dataTransfer.getData("text/plain");
        const from = ranking.order.indexOf(moved);
        const to = ranking.order.indexOf(slot);
        if (from < 0 || from === to) return;
        ranking.order.splice(from, 1);
        ranking.order.splice(to, 0, moved);
        ranking.focus = to;
        drawRanking();
      });
      list.appendChild(card);
    });
  }

  function moveRankCard(step) {
    const from = ranking.focus;
    const to = from + step;
    if (to < 0 || to >= ranking.order.length) return;
    const [slot] = ranking.order.splice(from, 1);
    ranking.order.splice(to, 0, slot);
    ranking.focus = to;
    drawRanking();
  }

  // rating: a cursor walks the (output, criterion) cells; 1-5 or p/f sets the value and moves on
  function showRating(task) {
    const cells = [];
    for (const output of task.outputs) for (const criterion of task.rubric) cells.push([output.slot, criterion]);
    rating = { values: {}, cursor: 0, cells, outputs: task.outputs };
    for (const output of task.outputs) rating.values[output.slot] = {};
    drawRating();
  }

  function drawRating() {
    const box = $("rating");
    box.replaceChildren();
    for (const output of rating.outputs) {
      const card = document.createElement("div");
      card.className = "card rating-card";
      const title = document.createElement("h2");
      title.textContent = rating.outputs.length > 1 ? `Output ${output.slot}` : "Output";
      const body = document.createElement("div");
      body.className = "content";
      SignoffRender.render(body, output.content);
      const table = document.createElement("table");
      table.className = "rubric";
      rating.cells.forEach(([slot, criterion], index) => {
        if (slot !== output.slot) return;
        const row = document.createElement("tr");
        row.className = index === rating.cursor ? "focused" : "";
        const name = document.createElement("th");
        name.textContent = criterion.name;
        name.title = criterion.description || "";
        const choices = document.createElement("td");
        const options = criterion.scale === "likert" ? [1, 2, 3, 4, 5] : ["pass", "fail"];
        for (const option of options) {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = criterion.scale === "likert" ? String(option) : option === "pass" ? "p pass" : "f fail";
          button.setAttribute("aria-pressed", String(rating.values[slot][criterion.name] === option));
          button.addEventListener("click", () => setRating(index, option));
          choices.appendChild(button);
        }
        row.append(name, choices);
        table.appendChild(row);
      });
      card.append(title, body, table);
      box.appendChild(card);
    }
  }

  function setRating(index, value) {
    const [slot, criterion] = rating.cells[index];
    const allowed = criterion.scale === "likert" ? [1, 2, 3, 4, 5] : ["pass", "fail"];
    if (!allowed.includes(value)) return;
    rating.values[slot][criterion.name] = value;
    rating.cursor = Math.min(index + 1, rating.cells.length - 1);
    drawRating();
  }

  function submitRating() {
    const missing = rating.cells.filter(([slot, c]) => rating.values[slot][c.name] === undefined);
    if (missing.length) {
      rating.cursor = rating.cells.indexOf(missing[0]);
      drawRating();
      return setStatus(`Rate every criterion first (${missing[0][1].name} of output ${missing[0][0]}).`, true);
    }
    submit({ ratings: rating.values }, {});
  }

  // labeling: the label's own key (or its number) toggles it; 'a' takes the suggestion; Enter submits
  const labelKeys = {};
  function showLabeling(task) {
    const box = $("labels");
    box.replaceChildren();
    for (const key of Object.keys(labelKeys)) delete labelKeys[key];
    task.labels.forEach((label, index) => {
      const key = label.length === 1 && !"acdgorsuxz?".includes(label.toLowerCase()) ? label.toLowerCase() : String((index + 1) % 10);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "label";
      button.dataset.label = label;
      button.setAttribute("aria-pressed", "false");
      if (key === label.toLowerCase()) {
        button.textContent = label;
      } else {
        const kbd = document.createElement("kbd");
        kbd.textContent = key;
        button.append(kbd, " ", label);
      }
      button.addEventListener("click", () => toggleLabel(label));
      if (!(key in labelKeys)) labelKeys[key] = label;
      box.appendChild(button);
    });
    const suggested = suggestedLabels(task.suggestion);
    $("suggestion").hidden = suggested.length === 0;
    $("suggestion-text").textContent = suggested.join(", ");
  }

  function toggleLabel(label, force) {
    const task = queue[0];
    const buttons = Array.from($("labels").querySelectorAll("[data-label]"));
    const button = buttons.find((b) => b.dataset.label === label);
    if (!button) return;
    const on = force === undefined ? button.getAttribute("aria-pressed") !== "true" : force;
    if (on && !task.multi_label) buttons.forEach((b) => b.setAttribute("aria-pressed", "false"));
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function selectedLabels() {
    return Array.from($("labels").querySelectorAll('[aria-pressed="true"]')).map((b) => b.dataset.label);
  }

  function suggestedLabels(suggestion) {
    if (suggestion === null || suggestion === undefined) return [];
    if (Array.isArray(suggestion)) return suggestion.map(String);
    if (typeof suggestion === "object") return suggestedLabels(suggestion.label ?? suggestion.labels ?? null);
    return [String(suggestion)];
  }

  function submitLabels() {
    const labels = selectedLabels();
    if (!labels.length) return setStatus("Select a label first.", true);
    submit({ labels }, {});
  }

  // ---- skip, flag, undo -------------------------------------------------------------------------------------
  function openDialog(id) {
    const dialog = $(id);
    dialog.hidden = false;
    const field = dialog.querySelector("input, textarea");
    if (field) {
      field.value = field.dataset.default || "";
      field.focus();
      field.select();
    }
  }

  function closeDialogs() {
    for (const dialog of root.querySelectorAll(".overlay")) dialog.hidden = true;
    $("task").focus({ preventScroll: true });
  }

  function confirmSkip(flag) {
    const reason = (flag ? $("flag-reason") : $("skip-reason")).value.trim();
    if (!reason) return;
    closeDialogs();
    submit({ reason, flag }, { url: api.skip(queue[0].task), undoable: false });
  }

  async function undo() {
    await drain();
    if (!lastJudgment) return setStatus("Nothing to undo.", true);
    const { status, data } = await request("POST", api.undo(lastJudgment.id));
    if (status !== 200) return setStatus((data && data.message) || `Undo failed (${status}).`, true);
    lastJudgment = null;
    updateProgress({ done: -1 });
    queue.unshift(data);
    show(data);
    setStatus("Your last judgment was taken back: judge this item again.");
  }

  // ---- keys -------------------------------------------------------------------------------------------------
  const pairwiseKeys = { 1: "A", 2: "B", 3: "tie", 4: "both_bad" };

  function toggle(id, button) {
    const element = $(id);
    element.hidden = !element.hidden;
    if (button) button.setAttribute("aria-expanded", String(!element.hidden));
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const openDialog_ = root.querySelector(".overlay:not([hidden])");
    if (openDialog_) {
      if (event.key === "Escape") {
        event.preventDefault();
        return closeDialogs();
      }
      if (openDialog_.id === "skip-dialog" && event.target === $("skip-reason") && event.key === "Enter") return confirmSkip(false);
      if (openDialog_.id === "flag-dialog" && event.target === $("flag-reason") && event.key === "Enter") return confirmSkip(true);
      if (openDialog_.id === "help" && event.key === "?") return closeDialogs();
      return;
    }
    if (event.target === comment) {
      if (event.key === "Escape" || (event.key === "Enter" && !event.shiftKey)) {
        event.preventDefault();
        comment.blur();
        $("task").focus({ preventScroll: true });
      }
      return;
    }
    if (event.target instanceof HTMLInputElement && event.target.type === "range") return; // the overlay slider
    const key = event.key;
    if (key === "?") return openDialog("help");
    if (key === "g") return toggle("guidelines", $("toggle-guidelines"));
    if (!queue.length || $("task").hidden) return;
    const handled = () => event.preventDefault();
    if (key === "c") return handled(), comment.focus();
    if (key === "s") return handled(), openDialog("skip-dialog");
    if (key === "x") return handled(), openDialog("flag-dialog");
    if (key === "u") return handled(), undo();
    if (key === "z") return handled(), SignoffRender.toggleZoom($("item-card"));
    if (kind === "pairwise") {
      if (pairwiseKeys[key]) return handled(), submit({ choice: pairwiseKeys[key] }, {});
      if (key === "d" && pair && pair.hasDiff) return handled(), pair.toggleDiff();
      if (key === "o" && pair && pair.hasOverlay) return handled(), pair.toggleOverlay();
    } else if (kind === "ranking") {
      if (key === "ArrowDown" || key === "j") return handled(), event.shiftKey || key === "J" ? moveRankCard(1) : focusRank(1);
      if (key === "ArrowUp" || key === "k") return handled(), event.shiftKey ? moveRankCard(-1) : focusRank(-1);
      if (key === "J") return handled(), moveRankCard(1);
      if (key === "K") return handled(), moveRankCard(-1);
      if (key === "t") {
        const slot = ranking.order[ranking.focus];
        if (ranking.focus > 0) ranking.tied[slot] = !ranking.tied[slot];
        return handled(), drawRanking();
      }
      if (key === "Enter") return handled(), submit({ ranking: rankingGroups() }, {});
    } else if (kind === "rating") {
      if (key >= "1" && key <= "5") return handled(), setRating(rating.cursor, Number(key));
      if (key === "p") return handled(), setRating(rating.cursor, "pass");
      if (key === "f") return handled(), setRating(rating.cursor, "fail");
      if (key === "ArrowDown" || key === "j") return handled(), moveRatingCursor(1);
      if (key === "ArrowUp" || key === "k") return handled(), moveRatingCursor(-1);
      if (key === "Enter") return handled(), submitRating();
    } else {
      if (key === "Enter") return handled(), submitLabels();
      if (key === "a") return handled(), suggestedLabels(queue[0].suggestion).forEach((label) => toggleLabel(label, true));
      const label = labelKeys[key.toLowerCase()];
      if (label !== undefined) return handled(), toggleLabel(label);
    }
  }

  function focusRank(step) {
    ranking.focus = Math.max(0, Math.min(ranking.order.length - 1, ranking.focus + step));
    drawRanking();
    const focused = $("ranking").querySelector(".focused");
    if (focused) focused.scrollIntoView({ block: "nearest" });
  }

  function moveRatingCursor(step) {
    rating.cursor = Math.max(0, Math.min(rating.cells.length - 1, rating.cursor + step));
    drawRating();
  }

  // ---- wiring -----------------------------------------------------------------------------------------------
  document.addEventListener("keydown", onKey);
  root.querySelectorAll("[data-choice]").forEach((b) => b.addEventListener("click", () => submit({ choice: b.dataset.choice }, {})));
  const on = (id, handler) => $(id) && $(id).addEventListener("click", handler);
  on("submit-labels", submitLabels);
  on("submit-ranking", () => submit({ ranking: rankingGroups() }, {}));
  on("submit-rating", submitRating);
  on("toggle-guidelines", (e) => toggle("guidelines", e.currentTarget));
  on("toggle-help", () => openDialog("help"));
  on("close-help", closeDialogs);
  on("action-skip", () => openDialog("skip-dialog"));
  on("action-flag", () => openDialog("flag-dialog"));
  on("action-undo", undo);
  on("confirm-skip", () => confirmSkip(false));
  on("confirm-flag", () => confirmSkip(true));
  root.querySelectorAll("[data-skip-reason]").forEach((b) =>
    b.addEventListener("click", () => {
      $("skip-reason").value = b.dataset.skipReason;
      confirmSkip(false);
    })
  );
  window.addEventListener("beforeunload", (event) => {
    if (outbox.length) event.preventDefault(); // judgments still on their way
  });

  (async function start() {
    setStatus("Loading…");
    try {
      await prefetch();
      if (queue.length) {
        show(queue[0]);
        prefetch();
      }
    } catch (error) {
      setStatus("Could not load the next task. Reload the page to retry.", true);
    }
  })();
})();
