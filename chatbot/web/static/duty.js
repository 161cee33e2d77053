// Who is on duty: this staff member's available/away choice in the live console. The server
// counts them available only while a console tab is open (its live socket), so closing the last
// tab drops them; the choice itself is kept for their return.
(() => {
  "use strict";
  const root = document.getElementById("live");
  if (!root) return;
  const { api } = window.Console;
  const S = JSON.parse(document.getElementById("live-strings").textContent);
  const select = root.querySelector('[data-testid="live-presence"]');
  const note = root.querySelector('[data-testid="live-presence-note"]');
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));

  function show(presence) {
    select.value = presence.status;
    root.dataset.presence = presence.status;
    note.textContent = fill(S.on_duty, { n: presence.available_staff });
  }

  async function load() {
    try { show(await api("GET", "/api/v1/staff/presence")); } catch (error) { console.warn(error); }
  }

  select.addEventListener("change", async () => {
    try {
      show(await api("POST", "/api/v1/staff/presence", { status: select.value }));
    } catch (error) {
      note.textContent = fill(S.error, { detail: error.detail || error.message });
    }
  });
  // Browser notifications of customers entering the queue: asked for once (a click, as browsers
  // want), remembered by the browser; the page beeps as well.
  const notifyButton = root.querySelector('[data-testid="live-notify"]');
  const ASKED = "chatbot.notifications-asked";
  const supported = typeof Notification === "function";
  if (supported && Notification.permission === "default" && !localStorage.getItem(ASKED)) {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", async () => {
      localStorage.setItem(ASKED, "1");
      notifyButton.hidden = true;
      try { await Notification.requestPermission(); } catch (_) { /* refused: the beep remains */ }
    });
  }
  root.addEventListener("live:waiting", (event) => {
    if (!supported || Notification.permission !== "granted") return;
    const entry = event.detail || {};
    const last = entry.last_message ? entry.last_message.text : "";
    try {
      const notice = new Notification(S.notify_title, { body: last, tag: `chatbot-${entry.id}` });
      notice.onclick = () => { window.focus(); location.search = `?conversation=${encodeURIComponent(entry.id)}`; };
      root.dataset.notified = String(Number(root.dataset.notified || 0) + 1);
    } catch (error) {
      console.warn("notification refused", error);
    }
  });

  load();
  // The count of colleagues on duty moves without events: refresh it now and then.
  setInterval(load, 30000);
})();
