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
    unskip: (task) => `/api/v1/tasks/${task}/unskip/`,
    history: root.dataset.historyUrl,
    judgmentTask: (judgment) => `/api/v1/judgments/${judgment}/task/`,
    change: (judgment) => `/api/v1/judgments/${judgment}/change/`,
  };
  const statusLine = $("status");
  const comment = $("comment");

  const queue = []; // queue[0] is on screen; the rest are prefetched and already assigned to this reviewer
  const outbox = []; // submissions not yet acknowledged: {task, url, body, undoable}
  let sending = false;
  let prefetching = null;
  let shownAt = 0;
  // The latest judgment or skip, whatever it was, for undo: {task, undoable, comment, judgment?, saved}
  let lastAction = null;
  // This page's judgments and skips so far, counted when made; each fetched task notes them, so "left" is the
  // server's count at the fetch less what was done since (not less the outbox again once it is acknowledged).
  const made = { done: 0, skipped: 0 };
  let progressBase = null; // {progress, done, skipped}: the latest server progress and `made` when it was read
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

  let prompting = false; // the status line asks for something missing ("Rate every criterion first")

  function setStatus(text, isError) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("error", Boolean(isError));
    prompting = false;
  }

  function prompt(text) {
    setStatus(text, true);
    prompting = true;
  }

  function clearPrompt() {
    if (prompting) setStatus("");
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
    const seen = Object.assign({}, made);
    const { status, data } = await request("GET", url);
    if (status === 204) return null;
    if (status !== 200) throw new Error((data && data.message) || `Error ${status}`);
    data.made = seen;
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
          entry.saved = true;
          if (entry.undoable) entry.judgment = result.data.id;
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
    if (task.changing) return submitChange(task, body);
    const entry = {
      task: task.task,
      item: task.item,
      url: url || api.judge(task.task),
      undoable: undoable !== false,
      comment: comment.value,
      body: Object.assign({ client_id: clientId(), comment: comment.value, duration_ms: Math.round(performance.now() - shownAt) }, body),
    };
    outbox.push(entry);
    lastAction = entry;
    if (entry.undoable) made.done += 1;
    else made.skipped += 1;
    updateProgress();
    advance();
  }

  // ---- showing ----------------------------------------------------------------------------------------------
  function updateProgress() {
    if (!progressBase) return;
    const base = progressBase.progress;
    const done = made.done - progressBase.done;
    const skipped = made.skipped - progressBase.skipped;
    const p = Object.assign({}, base, {
      done: base.done + done,
      skipped: base.skipped + skipped,
      left: Math.max(0, base.left - done - skipped),
    });
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
    if (task.progress && task.made) {
      progressBase = { progress: task.progress, done: task.made.done, skipped: task.made.skipped };
      updateProgress();
    }
    $("item-card").classList.remove("zoomed");
    $("changing").hidden = !task.changing;
    $("cancel-change").hidden = !task.changing;
    $("action-skip").hidden = $("action-flag").hidden = $("action-undo").hidden = Boolean(task.changing);
    if (task.changing) $("changing").textContent = `Changing your answer for item ${task.item} (it was: ${task.changing.answer}). Judge it again, or press Esc to cancel.`;
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
    if (!missingRatings().length) clearPrompt();
  }

  function missingRatings() {
    return rating.cells.filter(([slot, c]) => rating.values[slot][c.name] === undefined);
  }

  function submitRating() {
    const missing = missingRatings();
    if (missing.length) {
      rating.cursor = rating.cells.indexOf(missing[0]);
      drawRating();
      return prompt(`Rate every criterion first (${missing[0][1].name} of output ${missing[0][0]}).`);
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
      const key = label.length === 1 && !"acdghorsuxz?".includes(label.toLowerCase()) ? label.toLowerCase() : String((index + 1) % 10);
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
    if (selectedLabels().length) clearPrompt();
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
    if (!labels.length) return prompt("Select a label first.");
    submit({ labels }, {});
  }

  // ---- skip, flag, undo -------------------------------------------------------------------------------------
  // Dialogs are aria-modal: Tab cycles inside the open one, and closing it gives focus back where it was.
  let dialogOpener = null;
  const FOCUSABLE = "button:not([disabled]), input:not([disabled]), textarea, select, a[href], [tabindex]:not([tabindex='-1'])";

  function openDialog(id) {
    const dialog = $(id);
    if (!dialog.hidden) return;
    dialogOpener = document.activeElement;
    dialog.hidden = false;
    const field = dialog.querySelector("input, textarea");
    if (field) {
      field.value = field.dataset.default || "";
      field.focus();
      field.select();
    } else {
      const first = dialog.querySelector(FOCUSABLE);
      if (first) first.focus();
    }
  }

  function closeDialogs() {
    for (const dialog of root.querySelectorAll(".overlay")) dialog.hidden = true;
    const opener = dialogOpener;
    dialogOpener = null;
    if (opener && opener !== document.body && document.contains(opener) && !opener.closest("[hidden]")) opener.focus({ preventScroll: true });
    else $("task").focus({ preventScroll: true });
  }

  function trapTab(dialog, event) {
    const items = Array.from(dialog.querySelectorAll(FOCUSABLE)).filter((el) => el.offsetParent !== null);
    if (!items.length) return event.preventDefault();
    const first = items[0];
    const last = items[items.length - 1];
    const inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (!inside || document.activeElement === first)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
      event.preventDefault();
      first.focus();
    }
  }

  function confirmSkip(flag) {
    const reason = (flag ? $("flag-reason") : $("skip-reason")).value.trim();
    if (!reason) return;
    closeDialogs();
    submit({ reason, flag }, { url: api.skip(queue[0].task), undoable: false });
  }

  // Undo takes back the last action of either kind, judgment or skip, and puts its comment back in the field.
  async function undo() {
    await drain();
    const action = lastAction;
    if (!action || !action.saved) return setStatus("Nothing to undo.", true);
    const url = action.undoable ? api.undo(action.judgment) : api.unskip(action.task);
    const { status, data } = await request("POST", url);
    if (status !== 200) return setStatus((data && data.message) || `Undo failed (${status}).`, true);
    lastAction = null;
    if (action.undoable) made.done -= 1;
    else made.skipped -= 1;
    data.made = Object.assign({}, made);
    queue.unshift(data);
    show(data);
    comment.value = action.comment || "";
    setStatus(action.undoable ? "Your last judgment was taken back: judge this item again." : "Your skip was taken back: judge this item.");
  }

  function zoom() {
    // the item's own image when it has one, else the first zoomable image on the task (an image input or output)
    if (!$("item-image").hidden) return $("item-card").classList.toggle("zoomed");
    const box = $("task").querySelector(".zoom-box");
    if (box) return SignoffRender.toggleZoom(box);
    setStatus("This task has no image to zoom.", true);
    return false;
  }

  // ---- history: the reviewer's judgments in this campaign, paged; a change re-judges the task as it was shown ----
  const HISTORY_PAGE = 10;
  let historyPage = 1;

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (text !== undefined) td.textContent = text;
    return td;
  }

  function historyRow(entry) {
    const row = document.createElement("tr");
    row.dataset.judgment = entry.id;
    const item = cell();
    const code = document.createElement("code");
    code.textContent = entry.item;
    item.appendChild(code);
    const answer = cell(entry.answer, "history-answer");
    const notes = [];
    if (entry.previous_answer) notes.push(`changed from: ${entry.previous_answer}`);
    if (entry.discarded) notes.push("discarded by the campaign's lead");
    if (entry.rationale) notes.push(`“${entry.rationale}”`);
    for (const text of notes) {
      const small = document.createElement("div");
      small.className = "muted small";
      small.textContent = text;
      answer.appendChild(small);
    }
    const when = cell(new Date(entry.created_at).toLocaleString(), "muted small");
    const action = cell();
    if (entry.changeable) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "history-change";
      button.textContent = "Change";
      button.setAttribute("aria-label", `Change your answer for item ${entry.item}`);
      button.addEventListener("click", () => startChange(entry));
      action.appendChild(button);
    }
    row.append(item, answer, when, action);
    return row;
  }

  async function loadHistory(page) {
    if (!api.history) return;
    const { status, data } = await request("GET", `${api.history}?page=${page}&page_size=${HISTORY_PAGE}`).catch(() => ({ status: 0, data: null }));
    if (status === 404 && page > 1) return loadHistory(page - 1); // the last page emptied meanwhile
    if (status !== 200 || !data) {
      $("history-note").textContent = (data && data.message) || "Could not load your judgments.";
      return;
    }
    historyPage = page;
    $("history-rows").replaceChildren(...data.results.map(historyRow));
    $("history-page").textContent = `page ${page} of ${Math.max(1, Math.ceil(data.count / HISTORY_PAGE))} · ${data.count} judged`;
    $("history-prev").disabled = !data.previous;
    $("history-next").disabled = !data.next;
    const locked = data.results.find((entry) => !entry.changeable && !entry.discarded);
    if (!data.count) $("history-note").textContent = "You have not judged anything in this campaign yet.";
    else if (locked) $("history-note").textContent = `Read only: ${locked.not_changeable_reason}`;
    else $("history-note").textContent = "Change an answer while the campaign is open: the earlier one is kept on record.";
  }

  function toggleHistory() {
    toggle("history", $("toggle-history"));
    if (!$("history").hidden) loadHistory(1);
  }

  async function startChange(entry) {
    if (queue[0] && queue[0].changing) queue.shift();
    const { status, data } = await request("GET", api.judgmentTask(entry.id)).catch(() => ({ status: 0, data: null }));
    if (status !== 200 || !data) return setStatus((data && data.message) || "Could not load that task.", true);
    data.changing = { judgment: entry.id, answer: entry.answer };
    queue.unshift(data);
    show(data);
    comment.value = entry.rationale || "";
    $("task").scrollIntoView({ block: "start" });
  }

  function afterChange() {
    if (queue.length) show(queue[0]);
    else showDone();
  }

  function cancelChange() {
    if (!queue[0] || !queue[0].changing) return;
    queue.shift();
    afterChange();
    setStatus("Change cancelled: your answer stands.");
  }

  async function submitChange(task, body) {
    const payload = Object.assign({ client_id: clientId(), comment: comment.value, duration_ms: Math.round(performance.now() - shownAt) }, body);
    setStatus("Saving your change…");
    const { status, data } = await request("POST", api.change(task.changing.judgment), payload).catch(() => ({ status: 0, data: null }));
    if (status !== 201 && status !== 200) {
      return setStatus(`Your change was not saved: ${(data && data.message) || "the server could not be reached"}`, true);
    }
    queue.shift();
    afterChange();
    setStatus(`Your answer for item ${task.item} was changed; the earlier one is kept on record.`);
    if (!$("history").hidden) loadHistory(historyPage);
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
      if (event.key === "Tab") return trapTab(openDialog_, event);
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
    if (key === "h") return toggleHistory();
    if (!queue.length || $("task").hidden) return;
    const handled = () => event.preventDefault();
    const changing = Boolean(queue[0].changing);
    if (key === "c") return handled(), comment.focus();
    if (key === "Escape" && changing) return handled(), cancelChange();
    if (changing && (key === "s" || key === "x" || key === "u")) return handled(), setStatus("Finish or cancel (Esc) the change first.", true);
    if (key === "s") return handled(), openDialog("skip-dialog");
    if (key === "x") return handled(), openDialog("flag-dialog");
    if (key === "u") return handled(), undo();
    if (key === "z") return handled(), zoom();
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
  on("toggle-history", toggleHistory);
  on("item-image", zoom);
  on("history-prev", () => loadHistory(historyPage - 1));
  on("history-next", () => loadHistory(historyPage + 1));
  on("cancel-change", cancelChange);
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
