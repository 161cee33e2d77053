// Transfer, labels and private notes of one conversation, on the live page (the conversation
// picked in the queue: live.js says which) and on a transcript page. Notes go to staff only.
// On the live page, a conversation given to this staff member (round robin or a colleague's
// transfer) and a reminder that its customer waits raise a browser notification, if allowed.
(() => {
  "use strict";
  const box = document.querySelector('[data-testid="teamwork"]');
  if (!box) return;
  const { api, el, formatTime } = window.Console;
  const S = JSON.parse(document.getElementById("teamwork-strings").textContent);
  const ME = Number(box.dataset.me);
  const live = document.getElementById("live");
  const $ = (testid) => box.querySelector(`[data-testid="${testid}"]`);
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  const url = (action) => `/api/v1/staff/conversations/${encodeURIComponent(box.dataset.conversation)}/${action}`;
  const errorLine = $("teamwork-error");
  const labelList = $("labels");
  const noteList = $("notes");
  const transferTo = $("transfer-to");

  function showError(error) {
    errorLine.hidden = !error;
    errorLine.textContent = error ? fill(S.error, { detail: error.detail || error.message }) : "";
  }

  function showLabels(labels) {
    labelList.replaceChildren(...labels.map((name) => el(
      "li",
      { class: "badge badge--label", "data-testid": "label", "data-label": name },
      name,
      el("button", {
        type: "button",
        class: "teamwork-remove",
        "aria-label": fill(S.remove, { name }),
        "data-testid": "label-remove",
        text: "×",
        onclick: () => removeLabel(name),
      }),
    )));
  }

  function noteItem(note) {
    return el(
      "li",
      { "data-testid": "note", "data-id": String(note.id) },
      el("span", { class: "muted", text: `${note.author || ""} · ${formatTime(note.created_at)}` }),
      el("p", { class: "teamwork-note-text", text: note.text }),
    );
  }

  function addNote(note) {
    if (noteList.querySelector(`[data-id="${note.id}"]`)) return;
    noteList.append(noteItem(note));
  }

  async function load() {
    if (!box.dataset.conversation) return;
    const id = box.dataset.conversation;
    try {
      const [labels, notes] = await Promise.all([api("GET", url("labels")), api("GET", url("notes"))]);
      if (id !== box.dataset.conversation) return;
      showLabels(labels.labels);
      noteList.replaceChildren(...notes.map(noteItem));
      showError(null);
    } catch (error) {
      showError(error);
    }
  }

  async function loadColleagues() {
    if (!transferTo) return;
    try {
      const people = await api("GET", "/api/v1/staff/colleagues");
      const chosen = transferTo.value; // a choice made while the list was on its way stays
      transferTo.replaceChildren(
        transferTo.options[0],
        ...people.filter((person) => person.id !== ME).map((person) => el("option", {
          value: String(person.id),
          text: fill(person.available ? S.available : S.away, { name: person.name, n: person.open_conversations }),
        })),
      );
      transferTo.value = chosen;
    } catch (error) {
      showError(error);
    }
  }

  async function removeLabel(name) {
    try {
      showLabels((await api("DELETE", url(`labels/${encodeURIComponent(name)}`))).labels);
      showError(null);
    } catch (error) {
      showError(error);
    }
  }

  $("label-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("label-input");
    if (!input.value.trim() || !box.dataset.conversation) return;
    try {
      showLabels((await api("POST", url("labels"), { label: input.value })).labels);
      input.value = "";
      showError(null);
    } catch (error) {
      showError(error);
    }
  });

  $("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("note-input");
    if (!input.value.trim() || !box.dataset.conversation) return;
    try {
      addNote(await api("POST", url("notes"), { text: input.value }));
      input.value = "";
      showError(null);
    } catch (error) {
      showError(error);
    }
  });

  if (transferTo) {
    $("transfer-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!transferTo.value || !box.dataset.conversation) return;
      try {
        await api("POST", url("transfer"), { to: Number(transferTo.value) });
        transferTo.value = "";
        showError(null);
        loadColleagues();
      } catch (error) {
        showError(error);
      }
    });
    transferTo.addEventListener("focus", loadColleagues);
  }

  function notify(title, body, conversationId, counter) {
    if (live) live.dataset[counter] = String(Number(live.dataset[counter] || 0) + 1);
    if (typeof Notification !== "function" || Notification.permission !== "granted") return;
    try {
      const notice = new Notification(title, { body, tag: `chatbot-${counter}-${conversationId}` });
      notice.onclick = () => { window.focus(); location.search = `?conversation=${encodeURIComponent(conversationId)}`; };
      live.dataset[`${counter}Shown`] = String(Number(live.dataset[`${counter}Shown`] || 0) + 1);
    } catch (error) {
      console.warn("notification refused", error);
    }
  }

  if (live) {
    live.addEventListener("live:selected", (event) => {
      box.dataset.conversation = event.detail.id;
      labelList.replaceChildren();
      noteList.replaceChildren();
      load();
    });
    live.addEventListener("live:team", (event) => {
      const data = event.detail;
      const id = data.conversation ? data.conversation.id : data.conversation_id;
      if (data.type === "assigned" && data.assignee_id === ME) {
        const last = data.conversation.last_message;
        notify(S.assigned_title, data.by ? fill(S.assigned_by, { name: data.by }) : last ? last.text : "", id, "assigned");
      } else if (data.type === "reminder" && data.assignee_id === ME) {
        notify(S.reminder_title, fill(S.reminder_line, { time: formatTime(data.waiting_since) }), id, "reminded");
      } else if (id !== box.dataset.conversation) {
        // a colleague's change to another conversation
      } else if (data.type === "labels") {
        showLabels(data.labels);
      } else if (data.type === "note") {
        addNote(data.note);
      }
    });
  }
  loadColleagues();
  load();
})();
