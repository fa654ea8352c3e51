// Upload widget: sends a file to the API, then follows a background ingest to the end. A file dropped on the form
// is taken as if chosen and sent at once (the form's other fields keep their values).
// Phase 1 shows the bytes sent (XHR upload progress); a 202 answer switches to polling its status_url, which
// reports rows read, rows per second and time left; the last state is the new version, or every error found.
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0) + " MB";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "estimating…";
    if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s left`;
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s left`;
  }

  const number = (n) => Number(n).toLocaleString("en-US");

  function setup(form) {
    const bar = form.querySelector("progress");
    const line = form.querySelector("[data-upload-status]");
    const errorList = form.querySelector("[data-upload-errors]");
    const button = form.querySelector("button[type=submit]");

    function show(fraction, text, state) {
      bar.hidden = false;
      bar.value = fraction;
      bar.textContent = `${Math.round(fraction * 100)} %`;
      line.textContent = text;
      form.dataset.state = state;
    }

    function showErrors(body) {
      errorList.replaceChildren();
      const extra = (body && body.extra) || {};
      for (const error of extra.errors || []) {
        const li = document.createElement("li");
        const where = [error.line ? `line ${error.line}` : "", error.column ? `column ${error.column}` : "",
          error.field ? `field “${error.field}”` : ""].filter(Boolean).join(", ");
        li.textContent = `${where ? where + ": " : ""}${error.message}`; // text only: messages quote the file
        errorList.appendChild(li);
      }
      const total = extra.total || (extra.errors || []).length;
      show(bar.value, `Nothing was stored. ${(body && body.message) || "The upload failed."}` +
        (total > (extra.errors || []).length ? ` Showing the first ${extra.errors.length} of ${number(total)} errors.` : ""), "failed");
      button.disabled = false;
    }

    function done(body, status) {
      const rows = body.items !== undefined ? body.items : body.predictions;
      const what = body.version !== undefined ? `Version ${body.version}` : "Predictions";
      show(1, `${what} ready: ${number(rows)} rows${status === 200 ? " (identical content was already here)" : ""}.`, "ready");
      button.disabled = false;
      if (form.dataset.reload !== undefined) {
        const link = document.createElement("a");
        link.href = body.version !== undefined ? `?version=${body.version}` : window.location.pathname;
        link.textContent = "Show it";
        line.append(" ", link);
      }
    }

    async function follow(statusUrl) {
      for (;;) {
        const response = await fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        const body = await response.json();
        if (!response.ok) return showErrors(body);
        const p = body.progress || {};
        if (body.status === "ready") return done(body.result, 201);
        if (body.status === "failed") return showErrors(body.error);
        const pace = p.rows_per_second ? ` · ${number(Math.round(p.rows_per_second))} rows/s · ${duration(p.seconds_left)}` : "";
        const phase = body.status === "queued" ? "Waiting for a worker…" : p.phase === "saving" ? "Saving" : "Reading";
        show(p.fraction || 0, `${phase}: ${number(p.rows || 0)} rows${p.phase === "saving" ? "" : pace}`, body.status);
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const file = form.querySelector("input[type=file]").files[0];
      if (!file) return;
      errorList.replaceChildren();
      button.disabled = true;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) show(0, `Sending: ${megabytes(e.loaded)} of ${megabytes(e.total)}`, "sending");
      };
      xhr.onerror = () => showErrors({ message: "The connection dropped while sending; try again." });
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (e) {
          body = { message: `Error ${xhr.status}` };
        }
        if (xhr.status === 202) follow(body.status_url).catch(() => showErrors({ message: "Lost track of the upload; reload the page." }));
        else if (xhr.status === 200 || xhr.status === 201) done(body, xhr.status);
        else showErrors(body);
      };
      const data = new FormData(form);
      // one choice naming several fields, e.g. "digits:3" -> dataset=digits, dataset_version=3
      form.querySelectorAll("select[data-split]").forEach((select) => {
        const names = select.dataset.split.split(",");
        const values = select.value.split(":");
        names.forEach((name, i) => data.append(name, values[i] || ""));
      });
      xhr.send(data);
      show(0, "Sending…", "sending");
    });
  }

  function acceptDrops(form) {
    const input = form.querySelector("input[type=file]");
    const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
    form.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault(); // allows the drop
      event.dataTransfer.dropEffect = "copy";
      form.classList.add("dropping");
    });
    form.addEventListener("dragleave", (event) => {
      if (!form.contains(event.relatedTarget)) form.classList.remove("dropping");
    });
    form.addEventListener("drop", (event) => {
      form.classList.remove("dropping");
      if (!hasFiles(event)) return;
      event.preventDefault(); // the browser would otherwise open the file in place of the page
      const files = event.dataTransfer.files;
      if (files.length !== 1) {
        form.querySelector("[data-upload-status]").textContent = "Drop one file at a time.";
        return;
      }
      input.files = files;
      if (form.querySelector("button[type=submit]").disabled) return; // an upload is already on its way
      if (form.checkValidity()) form.requestSubmit();
      else form.reportValidity();
    });
  }

  document.querySelectorAll("form[data-upload-url]").forEach((form) => {
    setup(form);
    acceptDrops(form);
  });
})();
