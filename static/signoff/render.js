// Draws the server's Content objects (reviews/content.py) for untrusted inputs and outputs, and pairs two panes.
// Everything is built with the DOM and textContent; the one exception is markdown/code `html`, which the
// server has already sanitised with nh3 and which is the only string ever given to innerHTML here.
(function () {
  "use strict";

  const IMAGE_SRC = /^data:image\/(?:png|jpeg);base64,[A-Za-z0-9+/]+={0,2}$/;
  const OPEN_DEPTH = 2; // json objects and arrays start open down to this nesting depth
  const LONG_ARRAY = 100; // longer arrays start folded, summarised as "[… n items]"
  const MAX_JSON_CHILDREN = 1000; // children drawn per object/array; the rest are counted
  const MAX_DIFF_CELLS = 2000 * 2000; // O(n*m) LCS budget: above it, words give way to lines
  const SMALL_IMAGE = 256; // images smaller than this are drawn scaled up, pixel-sharp
  const TEXT_TYPES = new Set(["text", "markdown", "code"]);

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function note(text) {
    return node("p", "render-note", text);
  }

  // --- one Content ------------------------------------------------------------------------------------------

  function build(content, depth) {
    if (content === null || typeof content !== "object" || typeof content.type !== "string") {
      return node("div", "text", JSON.stringify(content) ?? "");
    }
    switch (content.type) {
      case "text":
        return withTruncation(node("div", "text", String(content.text ?? "")), content);
      case "markdown": {
        const box = node("div", "markdown");
        box.innerHTML = String(content.html ?? ""); // sanitised by nh3 on the server
        return withTruncation(box, content);
      }
      case "code": {
        const pre = node("pre", "code");
        pre.innerHTML = String(content.html ?? ""); // sanitised by nh3 on the server: token spans only
        if (content.language) pre.dataset.language = String(content.language);
        return withTruncation(pre, content);
      }
      case "json":
        return jsonTree(content.value);
      case "table":
        return table(content);
      case "image":
        return image(content.src);
      case "fields":
        return fields(content.fields, depth);
      default:
        return note(`Cannot show content of type "${String(content.type)}".`);
    }
  }

  function withTruncation(element, content) {
    if (!content.truncated) return element;
    const wrapper = node("div", "truncated");
    wrapper.append(element, note("Truncated: only the beginning is shown."));
    return wrapper;
  }

  function fields(list, depth) {
    const dl = node("dl", "kv fields");
    for (const field of Array.isArray(list) ? list : []) {
      const dd = node("dd");
      dd.appendChild(build(field.content, depth + 1));
      dl.append(node("dt", "", String(field.name)), dd);
    }
    return dl;
  }

  function table(content) {
    const columns = Array.isArray(content.columns) ? content.columns : [];
    const rows = Array.isArray(content.rows) ? content.rows : [];
    const element = node("table", "content-table");
    const headRow = element.createTHead().insertRow();
    for (const column of columns) headRow.appendChild(node("th", "", String(column)));
    const body = element.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      columns.forEach((_, index) => {
        const value = Array.isArray(row) ? row[index] : undefined;
        const cell = tr.insertCell();
        if (value === null || value === undefined) cell.className = "json-null";
        else cell.textContent = String(value);
      });
    }
    const wrapper = node("div", "table-wrap");
    wrapper.appendChild(element);
    if (content.truncated) wrapper.appendChild(note(`Only the first ${rows.length} rows are shown.`));
    return wrapper;
  }

  // --- json tree: details/summary per object or array, leaves as text -----------------------------------------

  function jsonTree(value) {
    const tree = node("div", "json-tree");
    tree.appendChild(jsonNode(value, 0, null));
    return tree;
  }

  function jsonLeaf(value) {
    const kind = value === null ? "null" : typeof value;
    const text = typeof value === "string" ? JSON.stringify(value) : String(value);
    return node("span", `json-${kind}`, text);
  }

  function keyLabel(key) {
    return node("span", "json-key", typeof key === "number" ? `${key}: ` : `${JSON.stringify(key)}: `);
  }

  function jsonNode(value, depth, key) {
    if (value === null || typeof value !== "object") {
      if (key === null) return jsonLeaf(value);
      const line = node("div", "json-entry");
      line.append(keyLabel(key), jsonLeaf(value));
      return line;
    }
    const isArray = Array.isArray(value);
    const entries = isArray ? value.map((item, index) => [index, item]) : Object.entries(value);
    const details = node("details", isArray ? "json-array" : "json-object");
    const summary = node("summary");
    if (key !== null) summary.appendChild(keyLabel(key));
    let count;
    if (isArray && entries.length > LONG_ARRAY) count = `[… ${entries.length} items]`;
    else if (isArray) count = `[${entries.length} item${entries.length === 1 ? "" : "s"}]`;
    else count = `{${entries.length} key${entries.length === 1 ? "" : "s"}}`;
    summary.appendChild(node("span", "json-count", count));
    details.appendChild(summary);
    // children are drawn the first time the node opens, so a huge folded value costs nothing
    const fill = () => {
      const children = node("div", "json-children");
      for (const [childKey, child] of entries.slice(0, MAX_JSON_CHILDREN)) {
        children.appendChild(jsonNode(child, depth + 1, childKey));
      }
      if (entries.length > MAX_JSON_CHILDREN) {
        children.appendChild(note(`… ${entries.length - MAX_JSON_CHILDREN} more not shown`));
      }
      details.appendChild(children);
    };
    if (depth <= OPEN_DEPTH && !(isArray && entries.length > LONG_ARRAY)) {
      details.open = true;
      fill();
    } else {
      details.addEventListener("toggle", fill, { once: true });
    }
    return details;
  }

  // --- images and zoom ------------------------------------------------------------------------------------------

  function imageElement(src, className) {
    const img = node("img", className);
    img.alt = "";
    img.decoding = "async";
    img.addEventListener("load", () => {
      const size = Math.max(img.naturalWidth, img.naturalHeight);
      if (size > 0 && size < SMALL_IMAGE) {
        img.classList.add("pixelated");
        img.style.width = `${img.naturalWidth * Math.max(1, Math.floor(SMALL_IMAGE / size))}px`;
      }
    });
    img.src = src;
    return img;
  }

  function zoomBox(target) {
    const box = node("div", "zoom-box");
    target.classList.add("zoom-target");
    box.appendChild(target);
    return box;
  }

  function image(src) {
    if (typeof src !== "string" || !IMAGE_SRC.test(src)) return note("Image not shown: it is not a PNG or JPEG.");
    const img = imageElement(src, "zoomable");
    img.title = "Click to zoom";
    img.addEventListener("click", () => toggleZoom(img));
    return zoomBox(img);
  }

  // Toggle the zoomed state of the (first) zoomable image in `container`, or of the box holding it.
  function toggleZoom(container) {
    if (!container) return false;
    const box = container.closest(".zoom-box") || container.querySelector(".zoom-box");
    if (!box) return false;
    return box.classList.toggle("zoomed");
  }

  // --- public: render ---------------------------------------------------------------------------------------

  function render(element, content) {
    element.classList.add("rendered");
    element.replaceChildren(build(content, 0));
    element.scrollTop = 0;
    element.scrollLeft = 0;
  }

  // --- diff: LCS over whitespace-separated words, or over lines when that is too big --------------------------

  function wordTokens(text) {
    const tokens = [];
    const pattern = /(\s*)(\S+)/g;
    let match;
    let end = 0;
    while ((match = pattern.exec(text)) !== null) {
      tokens.push({ space: match[1], value: match[2] });
      end = pattern.lastIndex;
    }
    return { tokens, tail: text.slice(end) };
  }

  function lineTokens(text) {
    return { tokens: text.split("\n").map((line, index) => ({ space: index ? "\n" : "", value: line })), tail: "" };
  }

  // Marks which tokens of a and b are not in their longest common subsequence.
  function changedTokens(a, b) {
    const changedA = new Array(a.length).fill(true);
    const changedB = new Array(b.length).fill(true);
    let start = 0;
    while (start < a.length && start < b.length && a[start].value === b[start].value) {
      changedA[start] = changedB[start] = false;
      start += 1;
    }
    let endA = a.length;
    let endB = b.length;
    while (endA > start && endB > start && a[endA - 1].value === b[endB - 1].value) {
      endA -= 1;
      endB -= 1;
      changedA[endA] = changedB[endB] = false;
    }
    const n = endA - start;
    const m = endB - start;
    if (n === 0 || m === 0) return { changedA, changedB, exact: true };
    if (n * m > MAX_DIFF_CELLS) return { changedA, changedB, exact: false };
    // lengths[i][j]: LCS length of a[start+i..endA) and b[start+j..endB), in one flat array
    const width = m + 1;
    const lengths = new Uint16Array((n + 1) * width); // an LCS is at most min(n, m) <= 2000 long
    for (let i = n - 1; i >= 0; i -= 1) {
      for (let j = m - 1; j >= 0; j -= 1) {
        lengths[i * width + j] = a[start + i].value === b[start + j].value
          ? lengths[(i + 1) * width + j + 1] + 1
          : Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[start + i].value === b[start + j].value) {
        changedA[start + i] = changedB[start + j] = false;
        i += 1;
        j += 1;
      } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) {
        i += 1;
      } else {
        j += 1;
      }
    }
    return { changedA, changedB, exact: true };
  }

  // Segments [{text, changed}] for both texts: word level when affordable, else line level.
  function diff(textA, textB) {
    let mode = "words";
    let a = wordTokens(textA);
    let b = wordTokens(textB);
    let result = changedTokens(a.tokens, b.tokens);
    if (!result.exact) {
      mode = "lines";
      a = lineTokens(textA);
      b = lineTokens(textB);
      result = changedTokens(a.tokens, b.tokens); // beyond budget even here: the unmatched middle is all changed
    }
    return { mode, a: segments(a, result.changedA), b: segments(b, result.changedB) };
  }

  // Consecutive changed tokens merge into one segment; the space before a run stays outside it.
  function segments({ tokens, tail }, changed) {
    const out = [];
    const push = (text, isChanged) => {
      if (!text) return;
      const last = out[out.length - 1];
      if (last && last.changed === isChanged) last.text += text;
      else out.push({ text, changed: isChanged });
    };
    tokens.forEach((token, index) => {
      const inRun = changed[index] && index > 0 && changed[index - 1];
      push(token.space, inRun);
      push(token.value, changed[index]);
    });
    push(tail, false);
    return out;
  }

  function diffView(parts, mode) {
    const view = node("div", `text diff-view diff-${mode}`);
    for (const part of parts) {
      view.appendChild(part.changed ? node("mark", "diff-changed", part.text) : document.createTextNode(part.text));
    }
    return view;
  }

  // --- public: enhancePair ----------------------------------------------------------------------------------

  function enhancePair(paneA, paneB, contentA, contentB) {
    const hasDiff = Boolean(contentA && contentB && TEXT_TYPES.has(contentA.type) && TEXT_TYPES.has(contentB.type) &&
      typeof contentA.text === "string" && typeof contentB.text === "string");
    const hasOverlay = Boolean(contentA && contentB && contentA.type === "image" && contentB.type === "image" &&
      IMAGE_SRC.test(String(contentA.src)) && IMAGE_SRC.test(String(contentB.src)));
    let diffOn = false;
    let overlayOn = false;

    // Proportional scroll sync. Setting one pane's scrollTop fires a scroll event on it a frame later;
    // remembering the value we set lets that echo be recognised and dropped instead of bouncing back.
    const echoes = new Map();
    const follow = (source, target) => () => {
      const echo = echoes.get(source);
      echoes.delete(source);
      if (echo !== undefined && Math.abs(echo - source.scrollTop) <= 1) return;
      const range = source.scrollHeight - source.clientHeight;
      const ratio = range > 0 ? source.scrollTop / range : 0;
      const goal = Math.round(ratio * (target.scrollHeight - target.clientHeight));
      if (Math.abs(target.scrollTop - goal) > 1) {
        echoes.set(target, goal);
        target.scrollTop = goal;
      }
    };
    const onScrollA = follow(paneA, paneB);
    const onScrollB = follow(paneB, paneA);
    paneA.addEventListener("scroll", onScrollA, { passive: true });
    paneB.addEventListener("scroll", onScrollB, { passive: true });

    function restore() {
      render(paneA, contentA);
      render(paneB, contentB);
      diffOn = overlayOn = false;
    }

    function toggleDiff() {
      if (!hasDiff) return false;
      if (diffOn) {
        restore();
        return false;
      }
      const result = diff(contentA.text, contentB.text);
      // the same mark on both sides: red for A and green for B read as "B is better" in a blind comparison
      paneA.replaceChildren(diffView(result.a, result.mode));
      paneB.replaceChildren(diffView(result.b, result.mode));
      diffOn = true;
      overlayOn = false;
      return true;
    }

    function toggleOverlay() {
      if (!hasOverlay) return false;
      if (overlayOn) {
        restore();
        return false;
      }
      const stack = node("div", "overlay-stack");
      const under = imageElement(contentA.src, "overlay-a");
      const over = imageElement(contentB.src, "overlay-b zoomable");
      const divider = node("div", "overlay-divider");
      stack.append(under, over, divider);
      const box = zoomBox(stack);
      over.addEventListener("click", () => toggleZoom(box));
      const slider = node("input", "overlay-slider");
      slider.type = "range";
      slider.min = "0";
      slider.max = "100";
      slider.step = "1";
      slider.value = "50";
      slider.setAttribute("aria-label", "Divider: A shows to its left, B to its right");
      // a before/after divider: A left of it, B (clipped) right of it, so the slider's A and B ends match the image
      const reveal = () => {
        const position = Number(slider.value);
        over.style.clipPath = `inset(0 0 0 ${position}%)`;
        divider.style.left = `${position}%`;
        slider.setAttribute("aria-valuetext", `${position}% A, ${100 - position}% B`);
      };
      slider.addEventListener("input", reveal);
      reveal();
      const controls = node("label", "overlay-controls");
      controls.append(node("span", "", "A"), slider, node("span", "", "B"));
      const wrapper = node("div", "image-overlay");
      wrapper.append(box, controls);
      paneA.replaceChildren(wrapper);
      paneB.replaceChildren(note("Shown over A in the other pane: move the slider (arrow keys work) to reveal B."));
      overlayOn = true;
      diffOn = false;
      return true;
    }

    function destroy() {
      paneA.removeEventListener("scroll", onScrollA);
      paneB.removeEventListener("scroll", onScrollB);
      echoes.clear();
    }

    return { hasDiff, hasOverlay, toggleDiff, toggleOverlay, destroy };
  }

  window.SignoffRender = Object.freeze({ render, toggleZoom, enhancePair, diff });
})();
