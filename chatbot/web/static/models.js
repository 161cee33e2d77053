// Model pages: activate or roll back a version (models list), sort the per-intent table and try a
// version in the test pane (a version's report). Text from the server reaches the DOM as
// textContent; the answer's HTML was rendered from Markdown and sanitised on the server.
(() => {
  "use strict";
  const { api, el } = window.Console;
  const stringsNode = document.getElementById("page-strings");
  const strings = stringsNode ? JSON.parse(stringsNode.textContent) : {};
  const fillIn = (template, values) =>
    template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));

  // ---- models list: one click activates; every row's "serving" cell follows the registry

  const table = document.querySelector('[data-testid="models-table"]');
  const message = document.getElementById("models-message");

  function servingCell(row, version, activeIndex, index) {
    const cell = row.querySelector('[data-cell="serving"]');
    row.classList.toggle("is-active", version.active);
    if (version.active) {
      cell.replaceChildren(el("span", { class: "badge badge--good", "data-testid": "model-active", text: strings.active }));
    } else if (version.status === "ready") {
      const older = activeIndex >= 0 && index > activeIndex; // rows run newest first
      cell.replaceChildren(
        el("button", {
          type: "button",
          class: `button button--small${older ? " button--quiet" : ""}`,
          "data-testid": "model-activate",
          "data-version": version.version,
          text: older ? strings.roll_back : strings.activate,
        }),
      );
    } else {
      cell.replaceChildren("—");
    }
  }

  async function showRegistry() {
    const versions = new Map((await api("GET", "/api/v1/admin/models")).map((v) => [v.version, v]));
    const rows = [...table.querySelectorAll("tbody tr[data-version]")];
    const activeIndex = rows.findIndex((row) => versions.get(row.dataset.version)?.active);
    rows.forEach((row, index) => {
      const version = versions.get(row.dataset.version);
      if (version) servingCell(row, version, activeIndex, index);
    });
  }

  function say(text, kind) {
    message.textContent = text;
    message.className = `alert alert--${kind}`;
    message.hidden = false;
  }

  if (table) {
    table.addEventListener("click", async (event) => {
      const button = event.target.closest('[data-testid="model-activate"]');
      if (!button) return;
      const version = button.dataset.version;
      for (const other of table.querySelectorAll('[data-testid="model-activate"]')) other.disabled = true;
      button.textContent = strings.activating;
      const url = `/api/v1/admin/models/${encodeURIComponent(version)}/activate`;
      try {
        try {
          await api("POST", url);
        } catch (error) {
          // A version that would answer many more out-of-scope questions asks first.
          if (!(error.status === 409 && error.detail && error.detail.confirm)) throw error;
          const percent = (x) => `${Math.round(x * 100)}%`;
          const question = fillIn(strings.confirm_scope, {
            version,
            recall: percent(error.detail.oos_recall),
            active: error.detail.active,
            active_recall: percent(error.detail.active_oos_recall),
          });
          if (!window.confirm(question)) {
            say(strings.not_activated, "error");
            await showRegistry();
            return;
          }
          await api("POST", `${url}?force=true`);
        }
        say(fillIn(strings.now_active, { version }), "ok");
      } catch (error) {
        say(`${strings.failed} ${error.message}`, "error");
      }
      try {
        await showRegistry();
      } catch (error) {
        say(`${strings.failed} ${error.message}`, "error");
      }
      message.focus();
    });
    message.tabIndex = -1;
  }

  // ---- sortable tables: buttons in the headers, so the keyboard sorts too

  for (const sortable of document.querySelectorAll("table.sortable")) {
    const headers = [...sortable.querySelectorAll("thead th")];
    sortable.addEventListener("click", (event) => {
      const button = event.target.closest(".sort-button");
      if (!button) return;
      const th = button.closest("th");
      const key = button.dataset.sortKey;
      const numeric = button.dataset.sortType === "number";
      // The first click on a column sorts it ascending; clicking it again flips the order.
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      const body = sortable.tBodies[0];
      const value = (row) => row.querySelector(`[data-key="${key}"]`).dataset.value;
      const rows = [...body.rows].sort((x, y) => {
        const a = value(x), b = value(y);
        const order = numeric ? Number(a) - Number(b) : a.localeCompare(b);
        return ascending ? order : -order;
      });
      body.append(...rows);
      for (const header of headers) header.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      button.focus();
    });
  }

  // ---- test pane: what this version would reply

  const pane = document.getElementById("test-pane");
  const result = document.getElementById("test-pane-result");

  function fact(label, ...value) {
    return el("div", {}, el("dt", { text: label }), el("dd", {}, ...value));
  }

  function showReply(reply) {
    const confidence = `${(reply.confidence * 100).toFixed(1)}%`;
    const facts = el(
      "dl",
      { class: "test-pane__facts" },
      fact(strings.intent, el("code", { "data-testid": "test-pane-intent", text: reply.intent || strings.no_intent })),
      fact(strings.confidence, el("span", { "data-testid": "test-pane-confidence", text: confidence })),
      fact(
        strings.decision,
        el("span", {
          class: `badge decision decision--${reply.decision}`,
          "data-testid": "test-pane-decision",
          "data-decision": reply.decision,
          text: strings[reply.decision] || reply.decision,
        }),
      ),
    );
    const answer = el("div", { class: "test-pane__answer", "data-testid": "test-pane-answer" }, answerFragment(reply.answer_html));
    const parts = [facts, el("h3", { text: strings.reply }), answer];
    if (reply.suggestions.length) {
      parts.push(
        el("h3", { text: strings.suggestions }),
        el(
          "ul",
          { class: "test-pane__suggestions", "data-testid": "test-pane-suggestions" },
          ...reply.suggestions.map((s) => el("li", {}, el("span", { text: s.question }), " ", el("code", { text: s.intent }))),
        ),
      );
    }
    result.replaceChildren(...parts);
  }

  // The answer was rendered from Markdown and cleaned with nh3 on the server
  // (chatbot/api/markdown.py). Parsed in an inert <template>, nothing in it runs or loads; scripts
  // and event attributes are dropped again as defence in depth, as the widget does.
  function answerFragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const fragment = template.content;
    fragment.querySelectorAll("script,style,iframe,object,embed,img,svg,form,input,button").forEach((node) => node.remove());
    fragment.querySelectorAll("*").forEach((node) => {
      for (const attribute of [...node.attributes]) {
        const name = attribute.name.toLowerCase();
        if (name.startsWith("on") || name === "style" || (name === "href" && !/^(https?:|mailto:|tel:|\/|#)/i.test(attribute.value))) node.removeAttribute(attribute.name);
      }
    });
    fragment.querySelectorAll("a").forEach((link) => {
      link.setAttribute("target", "_blank");
      link.setAttribute("rel", "noopener noreferrer");
    });
    return fragment;
  }

  if (pane) {
    pane.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = pane.elements.text;
      const button = pane.querySelector('[data-testid="test-pane-ask"]');
      button.disabled = true;
      result.replaceChildren(el("p", { class: "muted", text: strings.asking }));
      try {
        const version = encodeURIComponent(pane.dataset.version);
        showReply(await api("POST", `/api/v1/admin/models/${version}/ask`, { text: input.value }));
      } catch (error) {
        result.replaceChildren(el("p", { class: "alert alert--error", role: "alert", text: `${strings.failed} ${error.message}` }));
      } finally {
        button.disabled = false;
      }
    });
  }
})();
