// The training page: start a run, follow the latest one live (it survives a reload: the run is
// fetched from the API on load and polled every second while queued or running), list the others.
(() => {
  "use strict";
  const { api, el, formatTime } = window.Console;
  const strings = JSON.parse(document.getElementById("page-strings").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_MS = 1000;
  const ACTIVE = new Set(["queued", "running"]);

  const form = document.getElementById("training-form");
  const formError = document.getElementById("training-form-error");
  const startButton = form.querySelector('[data-testid="training-start"]');
  const latest = document.getElementById("latest-run");
  const detail = document.getElementById("training-detail");
  const empty = document.getElementById("training-empty");
  const statusText = document.getElementById("training-status");
  const bar = detail.querySelector('[role="progressbar"]');
  const fill = bar.querySelector(".progress__fill");
  const facts = document.getElementById("training-facts");
  const curve = document.getElementById("loss-curve");
  const runError = document.getElementById("training-error");
  const done = document.getElementById("training-done");
  const cancelButton = document.getElementById("training-cancel");
  const runsBody = document.getElementById("training-runs");
  let current = null;
  let timer = null;

  const fillIn = (template, values) =>
    template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));

  // 75 -> "1:15": the same in every language.
  function duration(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
    const total = Math.max(0, Math.round(seconds));
    const minutes = Math.floor(total / 60);
    return `${minutes}:${String(total % 60).padStart(2, "0")}`;
  }

  function showProgress(run) {
    const p = run.progress || {};
    const total = p.total_steps || 0;
    const fraction = run.status === "succeeded" ? 1 : total ? Math.min(1, (p.step || 0) / total) : 0;
    const percent = Math.round(fraction * 100);
    bar.setAttribute("aria-valuenow", String(percent));
    bar.setAttribute("aria-valuetext", total ? fillIn(strings.step_of, { step: p.step, total }) : `${percent}%`);
    bar.dataset.state = run.status;
    fill.style.width = `${percent}%`;
    const items = [];
    if (total) items.push(fillIn(strings.step_of, { step: p.step, total }));
    if (p.epoch) items.push(fillIn(strings.epoch, { epoch: p.epoch }));
    if (typeof p.loss === "number") items.push(fillIn(strings.loss, { loss: p.loss.toFixed(4) }));
    if (p.elapsed_seconds !== undefined) items.push(fillIn(strings.elapsed, { time: duration(p.elapsed_seconds) }));
    if (ACTIVE.has(run.status) && p.eta_seconds !== undefined) items.push(fillIn(strings.eta, { time: duration(p.eta_seconds) }));
    if (run.device) items.push(fillIn(strings.device, { device: run.device }));
    facts.replaceChildren(...items.map((text) => el("li", { text })));
  }

  // The loss of every recorded step as a polyline scaled into the SVG's 320 x 120 box.
  function drawLosses(losses) {
    curve.replaceChildren();
    if (!losses || losses.length === 0) {
      curve.append(svgText(160, 64, strings.no_losses, "middle"));
      return;
    }
    const max = Math.max(...losses);
    const min = Math.min(...losses);
    const span = max - min || 1;
    const left = 40, right = 315, top = 10, bottom = 110;
    const step = losses.length > 1 ? (right - left) / (losses.length - 1) : 0;
    const points = losses.map((loss, index) => {
      const x = left + index * step;
      const y = bottom - ((loss - min) / span) * (bottom - top);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    const axis = document.createElementNS(SVG, "polyline");
    axis.setAttribute("points", `${left},${top} ${left},${bottom} ${right},${bottom}`);
    axis.setAttribute("class", "loss-curve__axis");
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", losses.length > 1 ? points.join(" ") : `${points[0]} ${right},${points[0].split(",")[1]}`);
    line.setAttribute("class", "loss-curve__line");
    line.setAttribute("data-testid", "loss-curve-line");
    curve.append(axis, line, svgText(left - 4, top + 4, max.toFixed(3), "end"), svgText(left - 4, bottom, min.toFixed(3), "end"));
  }

  function svgText(x, y, text, anchor) {
    const node = document.createElementNS(SVG, "text");
    node.setAttribute("x", String(x));
    node.setAttribute("y", String(y));
    node.setAttribute("text-anchor", anchor);
    node.setAttribute("class", "loss-curve__label");
    node.textContent = text;
    return node;
  }

  function showRun(run) {
    current = run;
    latest.setAttribute("aria-busy", "false");
    empty.hidden = Boolean(run);
    detail.hidden = !run;
    if (!run) return;
    document.getElementById("latest-run-id").textContent = `#${run.id}`;
    statusText.textContent = strings[run.status] || run.status;
    statusText.dataset.status = run.status;
    statusText.className = `run-status run-status--${run.status}`;
    showProgress(run);
    drawLosses(run.losses);
    runError.hidden = !run.error || run.status === "cancelled";
    runError.textContent = run.error || "";
    cancelButton.hidden = !ACTIVE.has(run.status);
    cancelButton.disabled = false;
    startButton.disabled = ACTIVE.has(run.status);
    done.replaceChildren();
    done.hidden = true;
    if (run.status === "succeeded" && run.model_version) {
      done.hidden = false;
      done.append(
        el("a", {
          href: `/admin/models/${encodeURIComponent(run.model_version)}`,
          "data-testid": "training-version-link",
          class: "button",
          text: fillIn(strings.view_report, { version: run.model_version }),
        }),
      );
    }
  }

  function showRuns(runs) {
    const rows = runs.map((run) =>
      el(
        "tr",
        { "data-run": run.id },
        el("td", { text: fillIn(strings.run, { id: run.id }) }),
        el("td", {}, el("span", { class: `run-status run-status--${run.status}`, text: strings[run.status] || run.status })),
        el("td", { text: run.device || "—" }),
        el("td", { text: run.started_at ? formatTime(run.started_at) : "—" }),
        el("td", { text: run.finished_at ? formatTime(run.finished_at) : "—" }),
        el("td", { class: "num", text: run.progress && run.progress.total_steps ? `${run.progress.step}/${run.progress.total_steps}` : "—" }),
        el(
          "td",
          {},
          run.model_version
            ? el("a", { href: `/admin/models/${encodeURIComponent(run.model_version)}`, text: run.model_version })
            : "—",
        ),
      ),
    );
    runsBody.replaceChildren(...rows);
  }

  async function refreshAll() {
    const runs = await api("GET", "/api/v1/admin/training");
    showRun(runs[0] || null);
    showRuns(runs);
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (current && ACTIVE.has(current.status)) timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    try {
      const run = await api("GET", `/api/v1/admin/training/${current.id}`);
      showRun(run);
      if (!ACTIVE.has(run.status)) {
        await refreshAll(); // the finished run moves into the table with its version
        return;
      }
    } catch (error) {
      console.warn("polling the training run failed", error);
    }
    schedule();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    const data = new FormData(form);
    const body = { device: data.get("device"), activate: data.get("activate") === "on" };
    const epochs = String(data.get("epochs") || "").trim();
    if (epochs) body.epochs = Number(epochs);
    startButton.disabled = true;
    try {
      showRun(await api("POST", "/api/v1/admin/training", body));
      await refreshAll();
    } catch (error) {
      formError.textContent = `${strings.start_failed} ${error.message}`;
      formError.hidden = false;
      startButton.disabled = false;
      await refreshAll().catch(() => {});
    }
  });

  cancelButton.addEventListener("click", async () => {
    if (!current) return;
    cancelButton.disabled = true;
    try {
      showRun(await api("POST", `/api/v1/admin/training/${current.id}/cancel`));
      schedule();
    } catch (error) {
      runError.textContent = `${strings.cancel_failed} ${error.message}`;
      runError.hidden = false;
      cancelButton.disabled = false;
    }
  });

  refreshAll().catch((error) => {
    latest.setAttribute("aria-busy", "false");
    formError.textContent = `${strings.load_failed} ${error.message}`;
    formError.hidden = false;
  });
})();
