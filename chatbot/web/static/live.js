// The live queue: conversations waiting for a person, and the one this staff member talks in.
// Everything the customer wrote reaches the page through textContent (Console.el's `text`).
(() => {
  "use strict";
  const root = document.getElementById("live");
  if (!root) return;
  const { api, el, liveSocket } = window.Console;
  const S = JSON.parse(document.getElementById("live-strings").textContent);
  const ME = Number(root.dataset.me);
  const LIVE = new Set(["waiting", "with_staff"]);
  const TEAM_EVENTS = new Set(["assigned", "reminder", "note", "labels"]);
  const CUSTOMER_TYPING_MS = 4000;
  const TYPING_EVERY_MS = 1000;
  // The queue is fetched a page at a time; events move it between fetches, and a fetch shortly
  // after them puts the counts and the page's cut right again (one fetch however many events).
  const PAGE = 50;
  const MAX_PAGE = 200;
  const RESYNC_MS = 2000;
  const RENDER_MS = 50;
  const BASE_TITLE = document.title;

  const $ = (testid) => root.querySelector(`[data-testid="${testid}"]`);
  const queueList = $("live-queue");
  const queueEmpty = $("live-queue-empty");
  const queueMore = $("live-queue-more");
  const queueMoreText = queueMore.querySelector("span");
  const showMore = $("live-queue-show-more");
  const waitingCount = $("live-waiting-count");
  const connection = $("live-connection");
  const pick = $("live-pick");
  const detail = root.querySelector(".live-detail");
  const statusBadge = $("live-status");
  const meta = $("live-meta");
  const errorLine = $("live-error");
  const transcript = $("live-transcript");
  const typingLine = $("live-customer-typing");
  const form = $("live-reply-form");
  const replyBox = $("live-reply");
  const sendButton = $("live-send");
  const cannedSelect = $("live-canned");
  const attachInput = $("live-attach");
  const buttons = {
    claim: $("live-claim"),
    handback: $("live-handback"),
    close: $("live-close"),
  };

  const state = {
    queue: new Map(), // id -> queue entry
    limit: PAGE, // how many entries the console shows (Show more adds a page)
    counts: { waiting: 0, with_staff: 0 }, // the whole queue's, as the server last said
    renderPending: false,
    resyncTimer: null,
    selected: root.dataset.selected || null,
    conversation: null, // the selected conversation's queue entry
    shown: new Set(), // message ids in the transcript
    canned: [],
    audio: null,
    typingTimer: null,
    lastTypingSent: 0,
  };

  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  const url = (id, action) => `/api/v1/staff/conversations/${encodeURIComponent(id)}/${action}`;

  // ---- notification: a short beep (once the user has interacted: browsers block autoplay)

  function unlockAudio() {
    if (state.audio || typeof AudioContext !== "function") return;
    try { state.audio = new AudioContext(); } catch (_) { state.audio = null; }
  }
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });

  function beep() {
    const audio = state.audio;
    if (!audio) return;
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.25);
  }

  // ---- the queue

  function waitedFor(iso) {
    const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (Number.isNaN(seconds)) return "";
    if (seconds < 60) return fill(S.seconds, { n: seconds });
    if (seconds < 3600) return fill(S.minutes, { n: Math.floor(seconds / 60) });
    return fill(S.hours, { n: Math.floor(seconds / 3600) });
  }

  function queueItem(entry) {
    const last = entry.last_message;
    const who = entry.assignee_id === ME ? S.you : entry.assignee;
    const link = el(
      "a",
      {
        href: `?conversation=${encodeURIComponent(entry.id)}`,
        class: "live-item",
        "data-testid": "live-queue-item",
        "data-id": entry.id,
        "data-status": entry.status,
        "aria-current": entry.id === state.selected ? "true" : null,
        onclick: (event) => { event.preventDefault(); select(entry.id); },
      },
      el(
        "span",
        { class: "live-item-head" },
        el("span", { class: `badge badge--${entry.status}`, text: S[entry.status] || entry.status }),
        entry.language ? el("span", { class: "badge", text: entry.language }) : null,
        entry.offline ? el("span", { class: "badge badge--offline", "data-testid": "live-offline", title: entry.contact_email || "", text: S.offline_request }) : null,
        el("span", { class: "muted live-waited", "data-since": entry.waiting_since, text: fill(S.waiting_for, { time: waitedFor(entry.waiting_since) }) }),
      ),
      el("span", { class: "live-item-last", text: last ? last.text : S.no_messages }),
      who ? el("span", { class: "muted live-item-assignee", text: fill(S.held_by, { name: who }) }) : null,
    );
    return el("li", {}, link);
  }

  function renderQueue() {
    state.renderPending = false;
    const entries = [...state.queue.values()].sort((a, b) => {
      if ((a.status === "waiting") !== (b.status === "waiting")) return a.status === "waiting" ? -1 : 1;
      return String(a.waiting_since).localeCompare(String(b.waiting_since));
    });
    const shown = entries.slice(0, state.limit);
    queueList.replaceChildren(...shown.map(queueItem));
    queueEmpty.hidden = entries.length > 0;
    const total = Math.max(state.counts.waiting + state.counts.with_staff, entries.length);
    queueMore.hidden = total <= shown.length;
    queueMoreText.textContent = fill(S.more, { n: total - shown.length });
    showMore.hidden = state.limit >= MAX_PAGE;
    const waiting = Math.max(state.counts.waiting, entries.filter((e) => e.status === "waiting").length);
    waitingCount.textContent = String(waiting);
    document.title = waiting ? `(${waiting}) ${BASE_TITLE}` : BASE_TITLE;
  }

  // However many events arrive at once, the list is drawn once for them. A timer, not
  // requestAnimationFrame: a console in a background tab must still update its title's count.
  function scheduleRender() {
    if (state.renderPending) return;
    state.renderPending = true;
    setTimeout(renderQueue, RENDER_MS);
  }

  function scheduleResync() {
    if (state.resyncTimer) return;
    state.resyncTimer = setTimeout(() => { state.resyncTimer = null; loadQueue(); }, RESYNC_MS);
  }

  function count(status, change) {
    if (status in state.counts) state.counts[status] = Math.max(0, state.counts[status] + change);
  }

  function updateQueue(entry) {
    const before = state.queue.get(entry.id);
    if (before) count(before.status, -1);
    if (LIVE.has(entry.status)) {
      state.queue.set(entry.id, entry);
      count(entry.status, +1);
    } else {
      state.queue.delete(entry.id);
    }
    if (entry.status === "waiting" && (!before || before.status !== "waiting")) {
      beep();
      root.dispatchEvent(new CustomEvent("live:waiting", { detail: entry })); // duty.js notifies
    }
    scheduleRender();
    scheduleResync();
    if (entry.id === state.selected && state.conversation) {
      state.conversation = { ...state.conversation, ...entry };
      renderHeader();
    }
  }

  async function loadQueue() {
    try {
      const data = await api("GET", `/api/v1/staff/queue?limit=${state.limit}`);
      state.queue = new Map(data.conversations.map((entry) => [entry.id, entry]));
      state.counts = { waiting: data.waiting, with_staff: data.with_staff };
      renderQueue();
    } catch (error) {
      showError(error);
    }
  }

  // ---- the selected conversation

  function showError(error) {
    errorLine.hidden = !error;
    errorLine.textContent = error ? fill(S.error, { detail: error.detail || error.message }) : "";
  }

  function heldByAnother() {
    const c = state.conversation;
    return Boolean(c && c.status === "with_staff" && c.assignee_id !== null && c.assignee_id !== ME);
  }

  function renderHeader() {
    const c = state.conversation;
    if (!c) return;
    statusBadge.className = `badge badge--${c.status}`;
    statusBadge.textContent = S[c.status] || c.status;
    const parts = [];
    if (c.language) parts.push(c.language);
    parts.push(fill(S.held_by, { name: c.assignee_id === ME ? S.you : c.assignee || S.nobody }));
    if (c.satisfaction) parts.push(fill(S.rated, { n: c.satisfaction }));
    meta.textContent = parts.join(" · ");
    const closed = c.status === "closed";
    const mine = c.status === "with_staff" && c.assignee_id === ME;
    buttons.claim.disabled = closed || mine;
    buttons.handback.disabled = !LIVE.has(c.status) || heldByAnother();
    buttons.close.disabled = closed || heldByAnother();
    replyBox.disabled = sendButton.disabled = attachInput.disabled = closed || heldByAnother();
  }

  function roleLabel(message) {
    if (message.role === "customer") return S.customer;
    if (message.role === "bot") return S.bot_role;
    if (message.role === "system") return S.system;
    return message.author || S.staff;
  }

  function appendMessage(message) {
    const id = String(message.id);
    if (state.shown.has(id)) return;
    state.shown.add(id);
    transcript.append(
      el(
        "div",
        { class: "live-msg", "data-role": message.role, "data-testid": "live-message" },
        el("span", { class: "live-msg-who", text: roleLabel(message) }),
        message.attachment ? attachmentNode(message.attachment) : el("span", { class: "live-msg-text", text: message.text }),
        el("time", { class: "muted live-msg-time", datetime: message.created_at, text: window.Console.formatTime(message.created_at) }),
      ),
    );
    transcript.scrollTop = transcript.scrollHeight;
    if (message.role === "customer") setCustomerTyping(false);
  }

  // An image as a thumbnail opening the full image, anything else a download (the staff route
  // serves either with the session cookie).
  function attachmentNode(attachment) {
    const href = `/api/v1/staff/attachments/${encodeURIComponent(attachment.id)}`;
    const name = String(attachment.name);
    if (attachment.image) {
      return el(
        "a",
        { class: "attachment", href, target: "_blank", rel: "noopener", title: name },
        el("img", { class: "attachment__thumb", src: href, alt: fill(attachInput.dataset.image, { name }), "data-testid": "live-attachment-thumbnail" }),
      );
    }
    return el("a", { class: "attachment attachment--file", href, download: name, "data-testid": "live-attachment-file", text: fill(attachInput.dataset.download, { name }) });
  }

  async function sendAttachment() {
    const id = state.selected;
    const file = attachInput.files && attachInput.files[0];
    attachInput.value = "";
    if (!id || !file) return;
    try {
      appendMessage(await api("POST", `${url(id, "attachments")}?name=${encodeURIComponent(file.name)}`, file));
      showError(null);
      if (!state.conversation || state.conversation.status !== "with_staff") loadConversation();
    } catch (error) {
      showError(error);
    }
  }

  async function loadConversation() {
    const id = state.selected;
    if (!id) return;
    try {
      const data = await api("GET", url(id, "messages"));
      if (state.selected !== id) return; // another was picked meanwhile
      state.conversation = { ...data.conversation, satisfaction: data.satisfaction };
      state.shown.clear();
      transcript.replaceChildren();
      data.messages.forEach(appendMessage);
      renderHeader();
      showError(null);
    } catch (error) {
      showError(error);
    }
  }

  function select(id) {
    state.selected = id;
    state.conversation = null;
    state.shown.clear();
    transcript.replaceChildren();
    setCustomerTyping(false);
    pick.hidden = true;
    detail.hidden = false;
    history.replaceState(null, "", `?conversation=${encodeURIComponent(id)}`);
    root.dispatchEvent(new CustomEvent("live:selected", { detail: { id } })); // teamwork.js
    socket.send({ watch: id });
    renderQueue();
    loadConversation();
  }

  function setCustomerTyping(on) {
    clearTimeout(state.typingTimer);
    typingLine.hidden = !on;
    if (on) state.typingTimer = setTimeout(() => setCustomerTyping(false), CUSTOMER_TYPING_MS);
  }

  // ---- actions

  async function act(action) {
    const id = state.selected;
    if (!id) return;
    try {
      let entry;
      try {
        entry = await api("POST", url(id, action));
      } catch (error) {
        if (action !== "claim" || error.status !== 409 || !heldByAnother()) throw error;
        if (!window.confirm(fill(S.take_over, { name: state.conversation.assignee }))) return;
        entry = await api("POST", url(id, action), { take_over: true });
      }
      updateQueue(entry);
      showError(null);
      if (action === "claim") replyBox.focus();
    } catch (error) {
      showError(error);
    }
  }

  async function sendReply() {
    const id = state.selected;
    const text = replyBox.value.trim();
    if (!id || !text || sendButton.disabled) return;
    sendButton.disabled = true;
    try {
      const message = await api("POST", url(id, "reply"), { text });
      replyBox.value = "";
      appendMessage(message);
      showError(null);
      if (!state.conversation || state.conversation.status !== "with_staff") loadConversation();
    } catch (error) {
      showError(error);
    } finally {
      renderHeader();
    }
  }

  function sendTyping() {
    const now = Date.now();
    if (!state.selected || now - state.lastTypingSent < TYPING_EVERY_MS) return;
    state.lastTypingSent = now;
    socket.send({ typing: state.selected });
  }

  async function loadCanned() {
    try {
      state.canned = await api("GET", "/api/v1/staff/canned");
    } catch (_) {
      state.canned = [];
    }
    cannedSelect.replaceChildren(
      cannedSelect.options[0],
      ...state.canned.map((reply) => el("option", { value: String(reply.id), text: reply.language ? `${reply.title} (${reply.language})` : reply.title })),
    );
  }

  function insertCanned() {
    const reply = state.canned.find((item) => String(item.id) === cannedSelect.value);
    cannedSelect.value = "";
    if (!reply) return;
    const start = replyBox.selectionStart ?? replyBox.value.length;
    const end = replyBox.selectionEnd ?? replyBox.value.length;
    replyBox.setRangeText(reply.text, start, end, "end");
    replyBox.focus();
  }

  // ---- live events

  function onEvent(event) {
    if (event.type === "ready") {
      // (Re)connected: whatever happened while away is fetched afresh.
      loadQueue();
      if (state.selected) {
        socket.send({ watch: state.selected });
        loadConversation();
      }
    } else if (event.type === "queue") {
      updateQueue(event.conversation);
    } else if (TEAM_EVENTS.has(event.type)) {
      root.dispatchEvent(new CustomEvent("live:team", { detail: event })); // teamwork.js
    } else if (event.conversation_id !== state.selected) {
      // an event of a conversation no longer watched
    } else if (event.type === "watching") {
      loadConversation();
    } else if (event.type === "message") {
      appendMessage(event.message);
    } else if (event.type === "status" && state.conversation) {
      state.conversation.status = event.status;
      renderHeader();
    } else if (event.type === "typing" && event.role === "customer") {
      setCustomerTyping(true);
    }
  }

  function onState(connected) {
    connection.textContent = connected ? "" : S.offline;
  }

  Object.entries(buttons).forEach(([action, button]) => button.addEventListener("click", () => act(action)));
  form.addEventListener("submit", (event) => { event.preventDefault(); sendReply(); });
  replyBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendReply();
    }
  });
  replyBox.addEventListener("input", sendTyping);
  cannedSelect.addEventListener("change", insertCanned);
  attachInput.addEventListener("change", sendAttachment);
  showMore.addEventListener("click", () => {
    state.limit = Math.min(MAX_PAGE, state.limit + PAGE);
    loadQueue();
  });
  // Waiting times move on without any event.
  setInterval(() => {
    queueList.querySelectorAll("[data-since]").forEach((node) => {
      node.textContent = fill(S.waiting_for, { time: waitedFor(node.dataset.since) });
    });
  }, 15000);

  const socket = liveSocket("/api/v1/staff/ws", onEvent, onState);
  loadCanned();
  if (state.selected) select(state.selected);
})();
