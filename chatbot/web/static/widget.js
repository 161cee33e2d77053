/*
 * The embeddable customer chat widget.
 *
 *   <script src="https://your-host/widget.js" defer></script>
 *   <script src="https://your-host/widget.js" data-mode="inline" data-target="#chat-root" defer></script>
 *
 * Plain JavaScript, no build step and no dependencies. The API origin is the script's own origin, so
 * the widget works on any site. Everything lives in an open shadow root: the host page's CSS cannot
 * reach it, and its CSS cannot leak out. The styles are kept here (not in a separate file) so one
 * request is enough and nothing flashes unstyled. For the same reason it stays one classic script
 * rather than ES modules, which would cost a request each and need CORS on the customer's site; its
 * parts are plain functions instead (see mount()).
 */
(() => {
  "use strict";

  const script =
    document.currentScript || document.querySelector('script[src$="/widget.js"],script[src="widget.js"]');
  if (!script || !script.src) return;

  const ORIGIN = new URL(script.src, location.href).origin;
  const API = `${ORIGIN}/api/v1`;
  const MODE = script.dataset.mode === "inline" ? "inline" : "floating";
  // English text -> translation, per language other than English: chatbot/web/i18n/<language>/
  // customer.json, which the server writes in here when it serves this file (GET /widget.js).
  // Every text the widget shows goes through t() with its English as a literal, so that a test
  // (tests/api/test_customer_i18n.py) can find each one and insist on its translations.
  const CATALOGUES = {};
  const LANGUAGES = ["en", ...Object.keys(CATALOGUES)];
  const STORAGE_KEY = "chatbot.conversation";
  const DEFAULT_COLOR = "#1f6f5c";
  const STATUSES = ["bot", "waiting", "with_staff", "closed"];
  const ATTACHMENT_TYPES = "image/png,image/jpeg,image/gif,image/webp,application/pdf";
  // A font stack that renders Chinese well wherever the widget lands: the system's Latin font
  // first, then the usual CJK system fonts of macOS/iOS, Windows, Android and Linux.
  const FONT_STACK =
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "PingFang SC", ' +
    '"Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC", ' +
    '"Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif';

  // The language a BCP 47 tag asks for, if the widget speaks it ("zh-Hans-CN" -> "zh").
  function supportedLanguage(tag) {
    const base = String(tag || "").trim().split(/[-_]/)[0].toLowerCase();
    return LANGUAGES.includes(base) ? base : null;
  }

  // The widget's language until the conversation has one: the first that it speaks of the
  // embedding page's <html lang>, the script tag's data-lang and the browser's languages.
  function chooseLanguage() {
    const browser = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
    for (const tag of [document.documentElement.lang, script.dataset.lang, ...browser]) {
      const language = supportedLanguage(tag);
      if (language) return language;
    }
    return "en";
  }

  // `text` (English) in `language`, with {name} fields filled from `values`.
  function translate(language, text, values) {
    const catalogue = CATALOGUES[language] || {};
    const translated = Object.hasOwn(catalogue, text) ? catalogue[text] : text;
    return translated.replace(/\{(\w+)\}/g, (field, name) =>
      values && Object.hasOwn(values, name) ? String(values[name]) : field,
    );
  }

  // The tag for <html lang>-style attributes and Intl.
  function localeOf(language) {
    return language === "zh" ? "zh-CN" : language;
  }

  const RECONNECT_MAX_MS = 30000;
  // A message the server could not take now (busy, rate-limited, or no answer at all) is sent
  // again after max(Retry-After, backoff): the backoff starts at 1 s and doubles; no wait is longer
  // than the cap.
  const SEND_RETRIES = 5;
  const RETRY_FIRST_MS = 1000;
  const RETRY_MAX_MS = 8000;
  const RETRY_STATUSES = new Set([0, 429, 503]); // 0: no answer (offline, connection dropped)
  const STAFF_TYPING_TIMEOUT_MS = 10000;
  const TYPING_EVERY_MS = 1000; // the server also counts at most one typing event a second

  const CSS = `
:host { all: initial; display: block; }
:host([data-mode="inline"]) { width: 100%; height: 100%; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.cb {
  --cb-accent: #1f6f5c; --cb-on-accent: #fff; --cb-accent-ink: #1f6f5c;
  --cb-bg: #fff; --cb-log-bg: #f7f8fa; --cb-surface: #eef1f4; --cb-text: #1b1f24;
  --cb-muted: #59626e; --cb-border: #dde2e7; --cb-error: #b42318;
  --cb-shadow: 0 12px 40px rgba(16, 24, 40, .18), 0 2px 8px rgba(16, 24, 40, .08);
  font: 400 15px/1.45 ${FONT_STACK};
  color: var(--cb-text); -webkit-font-smoothing: antialiased; text-align: left;
}
.cb--inline { height: 100%; }
.cb:lang(zh) { line-height: 1.6; } /* Chinese needs the room */
button, textarea { font: inherit; color: inherit; }
button { cursor: pointer; }
button:disabled { cursor: not-allowed; opacity: .55; }
:focus { outline: none; }
:focus-visible { outline: 3px solid var(--cb-accent); outline-offset: 2px; }
.cb-sr {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}

/* Launcher */
.cb-launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  width: 60px; height: 60px; border: 0; border-radius: 50%; padding: 0;
  display: grid; place-items: center;
  background: var(--cb-accent); color: var(--cb-on-accent); box-shadow: var(--cb-shadow);
  transition: transform .15s ease, box-shadow .15s ease;
}
.cb-launcher:hover { transform: translateY(-2px) scale(1.03); }
.cb-launcher:focus-visible { outline: none; box-shadow: 0 0 0 3px #fff, 0 0 0 6px var(--cb-accent), var(--cb-shadow); }
.cb-launcher svg { width: 28px; height: 28px; }
.cb-launcher .cb-icon-close { display: none; }
.cb[data-open="true"] .cb-launcher .cb-icon-chat { display: none; }
.cb[data-open="true"] .cb-launcher .cb-icon-close { display: block; }
.cb-launcher[data-unread="true"]::after {
  content: ""; position: absolute; top: 4px; right: 4px; width: 14px; height: 14px;
  border-radius: 50%; background: #e5484d; border: 2px solid #fff;
}

/* Panel */
.cb-panel {
  display: flex; flex-direction: column; overflow: hidden; background: var(--cb-bg);
}
.cb--floating .cb-panel {
  position: fixed; right: 20px; bottom: 92px; z-index: 2147483000;
  width: 384px; height: min(640px, calc(100vh - 116px)); max-height: calc(100dvh - 116px);
  border-radius: 18px; box-shadow: var(--cb-shadow); border: 1px solid rgba(16, 24, 40, .06);
  transform-origin: bottom right; animation: cb-pop .18s ease-out;
}
.cb--inline .cb-panel {
  width: 100%; height: 100%; border: 1px solid var(--cb-border); border-radius: 16px;
}
@keyframes cb-pop { from { opacity: 0; transform: translateY(8px) scale(.98); } to { opacity: 1; transform: none; } }

.cb-header {
  display: flex; align-items: center; gap: 12px; padding: 14px 14px 14px 16px;
  background: var(--cb-accent); color: var(--cb-on-accent); flex: none;
}
.cb-avatar {
  width: 36px; height: 36px; border-radius: 50%; flex: none; display: grid; place-items: center;
  background: rgba(255, 255, 255, .2); font-weight: 700; font-size: 16px;
}
.cb-heading { flex: 1; min-width: 0; }
.cb-title { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.25; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.cb-subtitle { margin: 2px 0 0; font-size: 13px; opacity: .9; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.cb-header button {
  border: 1px solid rgba(255, 255, 255, .55); background: transparent; color: inherit;
  border-radius: 999px; flex: none;
}
.cb-header button:hover:not(:disabled) { background: rgba(255, 255, 255, .16); }
.cb-header button:focus-visible { outline: 3px solid currentColor; outline-offset: 2px; }
.cb-close { width: 34px; height: 34px; padding: 0; display: grid; place-items: center; border-color: transparent !important; }
.cb-close svg { width: 20px; height: 20px; }

/* Message log */
.cb-log {
  flex: 1; min-height: 0; overflow-y: auto; padding: 18px 14px 8px; background: var(--cb-log-bg);
  display: flex; flex-direction: column; gap: 12px; overscroll-behavior: contain;
}
.cb-msg { display: flex; flex-direction: column; align-items: flex-start; max-width: 100%; }
.cb-msg[data-role="customer"] { align-items: flex-end; }
.cb-sender { font-size: 12px; color: var(--cb-muted); margin: 0 0 3px 4px; font-weight: 600; }
.cb-bubble {
  max-width: min(85%, 640px); padding: 10px 14px; border-radius: 18px; border-bottom-left-radius: 6px;
  background: var(--cb-bg); border: 1px solid var(--cb-border);
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
}
.cb-bubble--html { white-space: normal; }
.cb-msg[data-role="customer"] .cb-bubble {
  background: var(--cb-accent); color: var(--cb-on-accent); border-color: transparent;
  border-radius: 18px; border-bottom-right-radius: 6px;
}
.cb-msg[data-role="staff"] .cb-bubble { background: #fff8e8; border-color: #f1dfb3; }
.cb-msg[data-role="system"] { align-items: center; }
.cb-msg[data-role="system"] .cb-bubble {
  background: transparent; border: 0; padding: 2px 8px; max-width: 92%;
  color: var(--cb-muted); font-size: 13px; text-align: center;
}
.cb-msg[data-pending] .cb-bubble { opacity: .75; }
.cb-msg[data-pending="failed"] .cb-bubble { outline: 2px solid var(--cb-error); outline-offset: 1px; }
.cb-send-failed {
  display: flex; align-items: center; justify-content: flex-end; flex-wrap: wrap; gap: 4px 8px;
  margin: 4px 4px 0 0; font-size: 13px; color: var(--cb-error); text-align: right;
}
.cb-resend {
  border: 1px solid var(--cb-accent-ink); color: var(--cb-accent-ink); background: var(--cb-bg);
  border-radius: 999px; padding: 3px 10px; font-size: 13px; font-weight: 600;
}
.cb-resend:hover:not(:disabled) { background: var(--cb-surface); }
.cb-bubble p { margin: 0 0 .6em; }
.cb-bubble > :last-child { margin-bottom: 0; }
.cb-bubble ul, .cb-bubble ol { margin: .2em 0 .6em; padding-left: 1.3em; }
.cb-bubble li + li { margin-top: .2em; }
.cb-bubble a { color: var(--cb-accent-ink); text-decoration: underline; text-underline-offset: 2px; font-weight: 500; }
.cb-bubble code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; background: var(--cb-surface); padding: 1px 4px; border-radius: 4px; }
.cb-bubble img { max-width: 100%; height: auto; }

.cb-chips { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; max-width: 92%; }
.cb-chip {
  border: 1px solid var(--cb-accent-ink); color: var(--cb-accent-ink); background: var(--cb-bg);
  border-radius: 999px; padding: 6px 12px; font-size: 14px; line-height: 1.3; text-align: left;
  transition: background-color .12s ease;
}
.cb-chip:hover:not(:disabled) { background: var(--cb-surface); }

.cb-feedback { display: flex; align-items: center; gap: 2px; margin: 4px 0 0 6px; font-size: 12px; color: var(--cb-muted); }
.cb-feedback-label { margin-right: 4px; }
.cb-thumb {
  width: 30px; height: 30px; padding: 0; display: grid; place-items: center; border-radius: 50%;
  border: 1px solid transparent; background: transparent; color: var(--cb-muted);
}
.cb-thumb svg { width: 16px; height: 16px; }
.cb-thumb:hover:not(:disabled) { background: var(--cb-surface); color: var(--cb-text); }
.cb-thumb[aria-pressed="true"] { background: var(--cb-accent); color: var(--cb-on-accent); }

.cb-typing .cb-bubble { display: inline-flex; align-items: center; gap: 8px; padding: 12px 14px; }
.cb-dots { display: inline-flex; gap: 4px; }
.cb-dots span {
  width: 7px; height: 7px; border-radius: 50%; background: var(--cb-muted); opacity: .4;
  animation: cb-blink 1.2s infinite ease-in-out;
}
.cb-dots span:nth-child(2) { animation-delay: .15s; }
.cb-dots span:nth-child(3) { animation-delay: .3s; }
.cb-typing-label { font-size: 13px; color: var(--cb-muted); }
@keyframes cb-blink { 0%, 80%, 100% { opacity: .3; transform: none; } 40% { opacity: 1; transform: translateY(-2px); } }

.cb-divider { align-self: center; font-size: 12px; color: var(--cb-muted); }
.cb-joined { align-self: center; font-size: 13px; font-weight: 600; color: var(--cb-accent-ink); }
.cb-rating {
  align-self: stretch; display: flex; flex-direction: column; align-items: center; gap: 8px;
  padding: 12px; border: 1px solid var(--cb-border); border-radius: 14px; background: var(--cb-bg);
}
.cb-rating-question { margin: 0; font-weight: 600; text-align: center; }
.cb-rating-scale { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; justify-content: center; }
.cb-rating-end { font-size: 12px; color: var(--cb-muted); }
.cb-rate {
  width: 38px; height: 38px; border-radius: 50%; border: 1px solid var(--cb-accent-ink);
  background: var(--cb-bg); color: var(--cb-accent-ink); font-weight: 650; padding: 0;
}
.cb-rate:hover:not(:disabled) { background: var(--cb-surface); }
.cb-rate[aria-pressed="true"] { background: var(--cb-accent); color: var(--cb-on-accent); border-color: transparent; }
.cb-rating-thanks { margin: 0; font-size: 13px; color: var(--cb-muted); }

/* Footer */
.cb-status {
  flex: none; padding: 6px 16px; font-size: 13px; color: var(--cb-muted); background: var(--cb-log-bg);
  display: flex; align-items: center; justify-content: center; gap: 6px; text-align: center;
}
.cb-status::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--cb-accent); flex: none; }
.cb-status:empty { display: none; }
.cb-retry::before { background: #b54708; }
.cb-error { flex: none; margin: 0; padding: 8px 16px 0; font-size: 13px; color: var(--cb-error); }
.cb-error:empty { display: none; }
.cb-composer {
  flex: none; display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px 6px;
  border-top: 1px solid var(--cb-border); background: var(--cb-bg); margin: 0;
}
.cb-input {
  flex: 1; min-width: 0; resize: none; border: 1px solid var(--cb-border); border-radius: 22px;
  padding: 10px 16px; min-height: 44px; max-height: 132px; line-height: 1.45; background: var(--cb-bg);
  overflow-y: auto;
}
.cb-input::placeholder { color: #6b7380; }
.cb-input:focus-visible { outline: none; border-color: var(--cb-accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--cb-accent) 25%, transparent); }
.cb-send {
  width: 44px; height: 44px; border: 0; border-radius: 50%; flex: none; padding: 0;
  display: grid; place-items: center; background: var(--cb-accent); color: var(--cb-on-accent);
}
.cb-send svg { width: 20px; height: 20px; }
.cb-attach {
  width: 44px; height: 44px; border: 0; border-radius: 50%; flex: none; padding: 0;
  display: grid; place-items: center; background: transparent; color: var(--cb-muted); cursor: pointer;
}
.cb-attach svg { width: 20px; height: 20px; }
.cb-attach:hover { color: var(--cb-accent-ink); background: var(--cb-surface); }
.cb-attach:focus-within { box-shadow: 0 0 0 3px color-mix(in srgb, var(--cb-accent) 25%, transparent); }
.cb-thumb { display: block; max-width: 180px; max-height: 180px; min-width: 48px; min-height: 48px; object-fit: contain; border-radius: 10px; }
.cb-file { font: inherit; color: inherit; text-decoration: underline; background: none; border: 0; padding: 0; cursor: pointer; }
.cb-footer { flex: none; display: flex; justify-content: center; padding: 0 12px 10px; background: var(--cb-bg); }
.cb-handoff {
  display: inline-flex; align-items: center; gap: 6px; border: 0; background: transparent;
  color: var(--cb-muted); font-size: 13px; font-weight: 600; padding: 4px 10px; border-radius: 999px;
}
.cb-handoff svg { width: 16px; height: 16px; }
.cb-handoff:hover:not(:disabled) { color: var(--cb-accent-ink); background: var(--cb-surface); }
.cb-send:focus-visible { outline: none; box-shadow: 0 0 0 2px #fff, 0 0 0 5px var(--cb-accent); }
.cb-offline { display: flex; flex-direction: column; gap: 6px; margin-top: 8px; max-width: 100%; }
.cb-offline input, .cb-offline textarea {
  font: inherit; font-size: 14px; padding: 8px 10px; border: 1px solid var(--cb-line, #d6d3cc);
  border-radius: 8px; background: #fff; color: inherit; resize: vertical;
}
.cb-offline-error { margin: 0; color: #a4262c; font-size: 13px; }
.cb-offline-error:empty { display: none; }

@media (max-width: 480px) {
  .cb--floating .cb-panel {
    inset: 0; width: 100%; height: 100%; max-height: none; border-radius: 0; border: 0;
  }
  .cb--floating[data-open="true"] .cb-launcher { display: none; }
  .cb--inline .cb-panel { border-radius: 0; border-left: 0; border-right: 0; }
  .cb-input { font-size: 16px; }
}
@media (prefers-reduced-motion: reduce) {
  .cb *, .cb *::before, .cb *::after { animation: none !important; transition: none !important; }
}
`;

  const ICONS = {
    chat: '<svg class="cb-icon-chat" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M4 6.5A2.5 2.5 0 0 1 6.5 4h11A2.5 2.5 0 0 1 20 6.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.5 3.5V17A2.5 2.5 0 0 1 4 14.5z"/><path d="M8.5 10.5h.01M12 10.5h.01M15.5 10.5h.01" stroke-width="2.6"/></svg>',
    close: '<svg class="cb-icon-close" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>',
    person: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/></svg>',
    clip: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9"/></svg>',
    send: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M5 12h13M13 6l6 6-6 6"/></svg>',
    up: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M7 10v11H4V10h3zm0 0l4-7a2 2 0 0 1 2.6 2.4L12.5 10H19a2 2 0 0 1 2 2.3l-1.3 7A2 2 0 0 1 17.7 21H7"/></svg>',
    down: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M17 14V3h3v11h-3zm0 0l-4 7a2 2 0 0 1-2.6-2.4l1.1-4.6H5a2 2 0 0 1-2-2.3l1.3-7A2 2 0 0 1 6.3 3H17"/></svg>',
  };

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "icon") node.innerHTML = value; // trusted constants from ICONS only
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // When a message was sent, as people write dates in `language` ("2 May 2025, 14:05",
  // "2025年5月2日 14:05").
  function formatWhen(date, language) {
    try {
      return new Intl.DateTimeFormat(localeOf(language), { dateStyle: "medium", timeStyle: "short" }).format(date);
    } catch (_) {
      return date.toLocaleString();
    }
  }

  class ApiError extends Error {
    // `retryAfterMs`: what the answer's Retry-After header asked for (0 when none or unreadable).
    constructor(status, retryAfterMs = 0) {
      super(`HTTP ${status}`);
      this.status = status;
      this.retryAfterMs = retryAfterMs;
    }
  }

  // Retry-After is either delay-seconds or an HTTP date.
  function retryAfterMs(header) {
    if (!header) return 0;
    const seconds = Number(header);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const when = Date.parse(header);
    return Number.isNaN(when) ? 0 : Math.max(0, when - Date.now());
  }

  async function request(method, path, body, token) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
      });
    } catch (_) {
      throw new ApiError(0);
    }
    if (!response.ok) throw new ApiError(response.status, retryAfterMs(response.headers.get("Retry-After")));
    return response.status === 204 ? null : response.json();
  }

  // ---------------------------------------------------------------- sending again

  // The id a customer message keeps over all its tries, so the server stores it once.
  function newClientId() {
    if (typeof crypto.randomUUID === "function") return crypto.randomUUID(); // secure contexts only
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // `retry`: 0 before the first retry, 1 before the second...
  function retryDelayMs(error, retry) {
    const backoff = RETRY_FIRST_MS * 2 ** retry;
    return Math.min(RETRY_MAX_MS, Math.max(error.retryAfterMs || 0, backoff));
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // Calls `request(retry)` (retry: 0 for the first try) until it succeeds, fails in a way that
  // trying again will not mend, or SEND_RETRIES retries have failed too; it then throws the last
  // error. Before each wait, calls `onWait(delayMs, error)`.
  async function sendWithRetry(request, onWait) {
    for (let retry = 0; ; retry += 1) {
      try {
        return await request(retry);
      } catch (error) {
        if (!RETRY_STATUSES.has(error.status) || retry >= SEND_RETRIES) throw error;
        const delay = retryDelayMs(error, retry);
        onWait(delay, error);
        await sleep(delay);
      }
    }
  }

  // Stored as {"<api origin>": {id, token}} under one key, so two chatbot hosts on one site never mix.
  const storage = {
    readAll() {
      try {
        const all = JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}");
        return all && typeof all === "object" && !Array.isArray(all) ? all : {};
      } catch (_) {
        return {};
      }
    },
    read() {
      const saved = this.readAll()[ORIGIN];
      return saved && saved.id && saved.token ? { id: String(saved.id), token: String(saved.token) } : null;
    },
    write(conversation) {
      try {
        const all = this.readAll();
        if (conversation) all[ORIGIN] = { id: conversation.id, token: conversation.token };
        else delete all[ORIGIN];
        localStorage.setItem(STORAGE_KEY, JSON.stringify(all));
      } catch (_) {
        /* storage may be blocked (private mode, sandboxed iframe): the chat still works */
      }
    },
  };

  // ------------------------------------------------------- sanitising server-rendered HTML

  const BLOCKED_ELEMENTS =
    "script,iframe,object,embed,style,link,meta,base,form,input,button,textarea,select,frame,frameset,template,noscript,svg,math";
  const URL_ATTRIBUTES = new Set(["href", "src", "action", "formaction", "xlink:href", "poster", "background", "cite", "data"]);

  function isSafeUrl(value) {
    const url = value.replace(/[\u0000-\u0020\u007f-\u009f]/g, "").toLowerCase();
    if (/^(https?:|mailto:)/.test(url)) return true;
    return !/^[a-z][a-z0-9+.-]*:/.test(url); // relative: no scheme at all
  }

  // The server already sanitises; this is defence in depth. Parsing into an inert <template> means
  // nothing in the markup runs or loads before it has been cleaned.
  function sanitisedFragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const fragment = template.content;
    fragment.querySelectorAll(BLOCKED_ELEMENTS).forEach((node) => node.remove());
    fragment.querySelectorAll("*").forEach((node) => {
      for (const attribute of Array.from(node.attributes)) {
        const name = attribute.name.toLowerCase();
        const unsafe =
          name.startsWith("on") ||
          name === "style" ||
          name === "srcset" ||
          (URL_ATTRIBUTES.has(name) && !isSafeUrl(attribute.value));
        if (unsafe) node.removeAttribute(attribute.name);
      }
    });
    fragment.querySelectorAll("a").forEach((link) => {
      link.setAttribute("target", "_blank");
      link.setAttribute("rel", "noopener noreferrer");
    });
    return fragment;
  }

  function relativeLuminance(hex) {
    const channels = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
    const [r, g, b] = channels.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  function contrastWithWhite(hex) {
    return 1.05 / (relativeLuminance(hex) + 0.05);
  }

  // --------------------------------------------------------------------------- the widget

  // The widget is a few parts that share one object: `state` (what more than one part reads), `view`
  // (the elements) and the parts themselves, by name. A part looks the others up when it runs, not
  // when it is made, because they call each other both ways: a message can change the status, and
  // the status can close the socket that delivers messages.
  function mount(host) {
    const widget = { state: initialState() };
    // widget.t(english, {field: value}): the text in the widget's language at this moment.
    widget.t = (text, values) => translate(widget.state.language, text, values);
    widget.view = buildView(widget);
    widget.transcript = transcript(widget);
    widget.composer = composer(widget);
    widget.session = conversationSession(widget);
    widget.live = liveEvents(widget);
    widget.takeover = takeover(widget);
    widget.rating = satisfactionRating(widget);
    widget.panel = floatingPanel(widget);
    // The style sheet takes the nonce of the script tag that loaded the widget, so a page whose
    // Content-Security-Policy allows inline styles only by nonce (this app's own pages) shows it.
    const style = el("style", { text: CSS });
    if (script.nonce) style.nonce = script.nonce;
    host.attachShadow({ mode: "open" }).append(style, widget.view.root);

    applyConfig(widget, {});
    widget.configLoaded = loadConfig(widget);
    widget.session.restore();
  }

  // The admin's names and texts in every language; the widget keeps its own until they come.
  function loadConfig(widget) {
    return request("GET", `/widget/config?lang=${encodeURIComponent(widget.state.language)}`)
      .then((config) => applyConfig(widget, config || {}))
      .catch(() => {
        /* the widget's own texts stay */
      });
  }

  // Each part keeps the rest of its state to itself.
  function initialState() {
    return {
      language: chooseLanguage(), // the widget's, then the conversation's (see setLanguage)
      config: { color: DEFAULT_COLOR, languages: {} }, // the server's /widget/config answer
      conversation: null, // {id, token}
      status: "bot", // one of STATUSES
      agent: null, // the name of the person who joined, when the server said
      statusChanges: 0, // how many times the status was set: a fetch begun earlier is stale
      busy: false, // a message or a handoff request is on its way
      open: MODE === "inline",
    };
  }

  // The conversation's language, once the server says what it is: the widget follows it.
  function setLanguage(widget, tag) {
    const language = supportedLanguage(tag);
    if (!language || language === widget.state.language) return;
    widget.state.language = language;
    relabel(widget);
  }

  // The admin's texts in the widget's language ({} until the configuration came).
  function adminTexts(state) {
    const texts = state.config.languages && state.config.languages[state.language];
    return texts && typeof texts === "object" ? texts : {};
  }

  // One of the admin's texts, or `fallback` when missing or blank.
  function adminText(state, key, fallback) {
    const value = adminTexts(state)[key];
    return typeof value === "string" && value.trim() ? value.trim() : fallback;
  }

  // ---------------------------------------------------------------- the elements

  // The texts are set by relabel(), in the widget's language.
  function buildView(widget) {
    const { state } = widget;
    const header = buildHeader();
    const log = buildLog();
    const composerParts = buildComposer();
    // While a message waits to be sent again.
    const retryLine = el("div", {
      class: "cb-status cb-retry",
      role: "status",
      "aria-live": "polite",
      "data-testid": "chatbot-retry-status",
    });
    const statusLine = el("div", { class: "cb-status", role: "status", "data-testid": "chatbot-status" });
    const errorLine = el("p", { class: "cb-error", role: "alert" });
    const handoffLabel = el("span");
    const handoffButton = el(
      "button",
      { type: "button", class: "cb-handoff", "data-testid": "chatbot-handoff", icon: ICONS.person },
      handoffLabel,
    );
    const panel = el(
      "section",
      {
        id: "cb-panel",
        class: "cb-panel",
        role: MODE === "floating" ? "dialog" : "region",
        "data-testid": "chatbot-panel",
        hidden: !state.open,
      },
      header.header,
      log.log,
      retryLine,
      statusLine,
      errorLine,
      composerParts.form,
      el("div", { class: "cb-footer" }, handoffButton),
    );
    const root = el("div", { class: `cb cb--${MODE}`, "data-open": String(state.open) });
    let launcher = null;
    if (MODE === "floating") {
      launcher = el("button", {
        type: "button",
        class: "cb-launcher",
        "data-testid": "chatbot-launcher",
        "aria-expanded": "false",
        "aria-controls": "cb-panel",
        icon: ICONS.chat + ICONS.close,
      });
      root.append(panel, launcher);
    } else {
      root.append(panel);
    }
    return {
      root,
      panel,
      launcher,
      ...header,
      ...log,
      ...composerParts,
      retryLine,
      statusLine,
      errorLine,
      handoffButton,
      handoffLabel,
    };
  }

  function buildHeader() {
    const titleEl = el("h2", { class: "cb-title", id: "cb-title" });
    const subtitleEl = el("p", { class: "cb-subtitle" });
    const avatar = el("div", { class: "cb-avatar", "aria-hidden": "true" });
    const closeButton =
      MODE === "floating" ? el("button", { type: "button", class: "cb-close", icon: ICONS.close }) : null;
    const header = el(
      "div",
      { class: "cb-header" },
      avatar,
      el("div", { class: "cb-heading" }, titleEl, subtitleEl),
      closeButton,
    );
    return { header, titleEl, subtitleEl, avatar, closeButton };
  }

  // The greeting and the typing indicator stay in the log; messages go in between them.
  function buildLog() {
    const log = el("div", {
      class: "cb-log",
      role: "log",
      "aria-live": "polite",
      "data-testid": "chatbot-log",
      tabindex: "0",
    });
    const greeting = el(
      "div",
      { class: "cb-msg", "data-testid": "chatbot-message", "data-role": "bot", "data-greeting": "true", hidden: true },
      el("div", { class: "cb-bubble" }),
    );
    const typing = el(
      "div",
      { class: "cb-msg cb-typing", "data-role": "bot", hidden: true },
      el(
        "div",
        { class: "cb-bubble" },
        el("span", { class: "cb-dots", "aria-hidden": "true" }, el("span"), el("span"), el("span")),
        el("span", { class: "cb-typing-label" }),
      ),
    );
    log.append(greeting, typing);
    return { log, greeting, typing };
  }

  function buildComposer() {
    const input = el("textarea", {
      id: "cb-input",
      class: "cb-input",
      rows: "1",
      "data-testid": "chatbot-input",
      autocomplete: "off",
      enterkeyhint: "send",
    });
    const sendButton = el("button", {
      type: "submit",
      class: "cb-send",
      "data-testid": "chatbot-send",
      icon: ICONS.send,
    });
    const inputLabel = el("label", { class: "cb-sr", for: "cb-input" });
    // An image or PDF to send; the server judges the file by its content, not by this list.
    const fileInput = el("input", {
      type: "file",
      class: "cb-sr",
      accept: ATTACHMENT_TYPES,
      "data-testid": "chatbot-attach-input",
    });
    const attachButton = el("label", { class: "cb-attach", "data-testid": "chatbot-attach", icon: ICONS.clip }, fileInput);
    const form = el("form", { class: "cb-composer", novalidate: true }, inputLabel, attachButton, input, sendButton);
    return { form, input, inputLabel, sendButton, fileInput, attachButton };
  }

  // `config`: the server's /widget/config answer; a field that is missing or blank keeps the
  // widget's own text.
  function applyConfig(widget, config) {
    const { state } = widget;
    const color = typeof config.color === "string" && /^#[0-9a-f]{6}$/i.test(config.color) ? config.color : DEFAULT_COLOR;
    const languages = config.languages && typeof config.languages === "object" ? config.languages : {};
    state.config = { color, languages };
    relabel(widget);
  }

  // Every text the widget shows outside messages, in the widget's language.
  function relabel(widget) {
    const { state, view, t } = widget;
    const { color } = state.config;
    const title = adminText(state, "title", t("Chat with us"));
    const company = adminText(state, "company", "");
    view.root.setAttribute("lang", localeOf(state.language));
    view.root.style.setProperty("--cb-accent", color);
    view.root.style.setProperty("--cb-on-accent", contrastWithWhite(color) >= 4.5 ? "#fff" : "#111418");
    view.root.style.setProperty("--cb-accent-ink", contrastWithWhite(color) >= 4.5 ? color : "#1b1f24");
    view.titleEl.textContent = title;
    view.panel.setAttribute("aria-label", title);
    view.subtitleEl.textContent = company || t("We typically reply in seconds");
    view.avatar.textContent = (company || title).trim().charAt(0).toUpperCase();
    view.log.setAttribute("aria-label", t("Conversation so far"));
    view.input.placeholder = t("Type your question…");
    view.inputLabel.textContent = t("Type your message");
    view.sendButton.setAttribute("aria-label", t("Send message"));
    view.attachButton.title = t("Attach an image or PDF");
    view.fileInput.setAttribute("aria-label", t("Attach an image or PDF"));
    view.handoffLabel.textContent = t("Talk to a person");
    if (view.closeButton) view.closeButton.setAttribute("aria-label", t("Close chat"));
    if (view.launcher) widget.panel.labelLauncher();
    const greeting = adminText(state, "greeting", "");
    view.greeting.querySelector(".cb-bubble").textContent = greeting;
    view.greeting.hidden = !greeting;
    widget.takeover.showStatus();
  }

  // ---------------------------------------------------------------- the transcript

  // The message log: each message rendered once (by id), and the typing indicator.
  function transcript(widget) {
    const { state, view, t } = widget;
    const shown = new Set(); // message ids already rendered
    let held = null; // messages that arrived while a send was in flight
    let staffTypingTimer = null;

    function scrollToEnd() {
      view.log.scrollTop = view.log.scrollHeight;
    }

    function append(node) {
      view.log.insertBefore(node, view.typing);
      scrollToEnd();
    }

    // Marks a message id as on screen; returns whether it was not already.
    function claim(id) {
      if (shown.has(String(id))) return false;
      shown.add(String(id));
      return true;
    }

    function senderLabel(role) {
      if (role === "customer") return t("You said");
      if (role === "staff") return t("Support team");
      if (role === "system") return t("Notice");
      return adminText(state, "company", t("Assistant"));
    }

    // `relatedTo`: the id of the answer offering these as related questions (a click counts).
    function chipRow(items, testid, label, relatedTo) {
      const row = el("div", { class: "cb-chips", role: "group", "aria-label": label });
      for (const item of items) {
        if (!item || typeof item.question !== "string") continue;
        const chip = el("button", { type: "button", class: "cb-chip", "data-testid": testid, text: item.question });
        if (item.intent) chip.dataset.intent = item.intent;
        chip.addEventListener("click", () => widget.composer.send(item.question, item.intent || null, relatedTo));
        row.append(chip);
      }
      return row.childElementCount ? row : null;
    }

    function feedbackRow(message) {
      const label = el("span", { class: "cb-feedback-label", text: t("Was this helpful?") });
      const up = el("button", {
        type: "button",
        class: "cb-thumb",
        "data-testid": "chatbot-feedback-up",
        "aria-label": t("Helpful"),
        "aria-pressed": String(message.helpful === true),
        icon: ICONS.up,
      });
      const down = el("button", {
        type: "button",
        class: "cb-thumb",
        "data-testid": "chatbot-feedback-down",
        "aria-label": t("Not helpful"),
        "aria-pressed": String(message.helpful === false),
        icon: ICONS.down,
      });
      const row = el("div", { class: "cb-feedback" }, label, up, down);
      const choose = async (helpful) => {
        const previous = [up.getAttribute("aria-pressed"), down.getAttribute("aria-pressed")];
        up.setAttribute("aria-pressed", String(helpful));
        down.setAttribute("aria-pressed", String(!helpful));
        try {
          await request("POST", `/messages/${encodeURIComponent(message.id)}/feedback`, { helpful }, widget.session.token());
          label.textContent = t("Thanks for your feedback!");
        } catch (_) {
          up.setAttribute("aria-pressed", previous[0]);
          down.setAttribute("aria-pressed", previous[1]);
          widget.composer.showError(t("Sorry, something went wrong. Please try again."));
        }
      };
      up.addEventListener("click", () => choose(true));
      down.addEventListener("click", () => choose(false));
      return row;
    }

    function messageNode(message) {
      const role = ["customer", "bot", "staff", "system"].includes(message.role) ? message.role : "bot";
      const node = el("div", { class: "cb-msg", "data-testid": "chatbot-message", "data-role": role });
      if (message.id !== undefined && message.id !== null) node.dataset.id = String(message.id);
      if (role === "staff") node.append(el("div", { class: "cb-sender", text: senderLabel(role) }));
      const bubble = el("div", { class: "cb-bubble" }, el("span", { class: "cb-sr", text: `${senderLabel(role)}: ` }));
      if (message.attachment && typeof message.attachment === "object") {
        bubble.append(attachmentNode(message.attachment));
      } else if (role !== "customer" && typeof message.html === "string") {
        bubble.classList.add("cb-bubble--html");
        bubble.append(sanitisedFragment(message.html));
      } else {
        bubble.append(document.createTextNode(message.text || ""));
      }
      if (message.created_at) {
        const when = new Date(message.created_at);
        if (!Number.isNaN(when.getTime())) bubble.title = formatWhen(when, state.language);
      }
      node.append(bubble);
      if (role !== "customer") {
        const suggestions = chipRow(message.suggestions || [], "chatbot-suggestion", t("Did you mean"));
        const followUps = chipRow(message.follow_ups || [], "chatbot-followup", t("Related questions"));
        if (suggestions) node.append(suggestions);
        if (followUps) node.append(followUps);
        const related = chipRow(message.related || [], "chatbot-related", t("Customers also asked"), message.id);
        if (related) node.append(related);
      }
      if (role === "bot" && message.action === "answer" && node.dataset.id) node.append(feedbackRow(message));
      if (role === "bot" && message.action === "offline" && state.status === "bot") node.append(offlineForm());
      return node;
    }

    // An attachment is fetched with the conversation's token in a header (never in a URL) and
    // shown from a blob URL: an image as a thumbnail that opens full size, a PDF as a download.
    function attachmentNode(attachment) {
      const name = String(attachment.name || "");
      const conversation = state.conversation;
      const fetchBlob = async () => {
        if (!conversation) throw new ApiError(0);
        const path = `/conversations/${encodeURIComponent(conversation.id)}/attachments/${encodeURIComponent(attachment.id)}`;
        const response = await fetch(API + path, {
          headers: { Authorization: `Bearer ${conversation.token}` },
          credentials: "omit",
        });
        if (!response.ok) throw new ApiError(response.status);
        return URL.createObjectURL(await response.blob());
      };
      if (attachment.image) {
        const image = el("img", { class: "cb-thumb", alt: t("Image: {name}", { name }), "data-testid": "chatbot-attachment-thumbnail" });
        const link = el("a", { class: "cb-attachment", target: "_blank", rel: "noopener", title: name }, image);
        fetchBlob().then((url) => {
          image.src = url;
          link.href = url;
        }).catch(() => {
          image.alt = t("This attachment could not be loaded.");
        });
        return link;
      }
      const button = el("button", { type: "button", class: "cb-file", "data-testid": "chatbot-attachment-file", text: t("Download {name}", { name }) });
      button.addEventListener("click", async () => {
        try {
          const save = el("a", { href: await fetchBlob(), download: name });
          save.click();
        } catch (_) {
          widget.composer.showError(t("This attachment could not be loaded."));
        }
      });
      return button;
    }

    // Nobody can come now: the customer may leave an e-mail address and a message; staff reply
    // by e-mail, and the reply is here when they come back.
    function offlineForm() {
      const email = el("input", {
        type: "email", class: "cb-offline-email", "data-testid": "chatbot-offline-email",
        autocomplete: "email", maxlength: "254", "aria-label": t("Your e-mail address"),
        placeholder: t("Your e-mail address"),
      });
      const text = el("textarea", {
        class: "cb-offline-text", "data-testid": "chatbot-offline-text", rows: "3",
        "aria-label": t("Your message"), placeholder: t("Your message"),
      });
      const error = el("p", { class: "cb-offline-error", role: "alert", "data-testid": "chatbot-offline-error" });
      const submit = el("button", {
        type: "submit", class: "cb-chip", "data-testid": "chatbot-offline-send", text: t("Leave the message"),
      });
      const form = el("form", { class: "cb-offline", "data-testid": "chatbot-offline", novalidate: true }, email, text, error, submit);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        error.textContent = "";
        if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.value.trim()) || !text.value.trim()) {
          error.textContent = t("Please enter your e-mail address and a message.");
          return;
        }
        submit.disabled = true;
        try {
          const result = await widget.session.withConversation((conversation) =>
            widget.session.postTo(conversation, "/offline", { email: email.value, text: text.value }),
          );
          render(result.message);
          render(result.reply);
          widget.takeover.setStatus(result.status);
        } catch (failure) {
          error.textContent = failure && failure.status === 422
            ? t("Please enter your e-mail address and a message.")
            : t("Sorry, something went wrong. Please try again.");
        } finally {
          submit.disabled = false;
        }
      });
      return form;
    }

    // Renders a message unless one with its id is already on screen; returns whether it was new.
    function render(message) {
      if (!message || typeof message !== "object") return false;
      if (message.id !== undefined && message.id !== null && !claim(message.id)) return false;
      append(messageNode(message));
      if (message.handoff && state.status === "bot") widget.takeover.setStatus("waiting");
      if (message.role === "staff") setStaffTyping(false);
      return true;
    }

    // Messages from the socket or a resync wait while a send is in flight, so the POST's own answer
    // is rendered first and the copies the socket also delivers are dropped by id.
    function receive(message) {
      if (held) {
        held.push(message);
        return;
      }
      if (render(message) && message.role !== "customer") widget.panel.markUnread();
    }

    function holdIncoming() {
      held = [];
      showTyping(t("Typing…"), false);
    }

    function releaseIncoming() {
      hideTyping();
      const waiting = held || [];
      held = null;
      waiting.forEach(receive);
    }

    // `visible`: whether the label is shown, or only read out by screen readers.
    function showTyping(label, visible) {
      const labelEl = view.typing.querySelector(".cb-typing-label");
      labelEl.textContent = label;
      labelEl.classList.toggle("cb-sr", !visible);
      view.typing.hidden = false;
      scrollToEnd();
    }

    function hideTyping() {
      view.typing.hidden = true;
    }

    function setStaffTyping(on) {
      clearTimeout(staffTypingTimer);
      if (on) {
        showTyping(t("A person is typing…"), true);
        staffTypingTimer = setTimeout(() => setStaffTyping(false), STAFF_TYPING_TIMEOUT_MS);
      } else if (!state.busy) {
        hideTyping();
      }
    }

    return {
      scrollToEnd,
      append,
      claim,
      messageNode,
      render,
      receive,
      holdIncoming,
      releaseIncoming,
      hideTyping,
      setStaffTyping,
    };
  }

  // ---------------------------------------------------------------- the composer

  // The text box and the buttons under it: a customer message stays on screen from the moment it is
  // sent until the server has it, trying again while the server is busy or out of reach.
  function composer(widget) {
    const { state, view, t } = widget;

    function showError(text) {
      view.errorLine.textContent = text;
    }

    // While busy, live messages are held back (see transcript's receive).
    function setBusy(busy) {
      state.busy = busy;
      view.sendButton.disabled = busy;
      view.log.querySelectorAll(".cb-resend").forEach((button) => { button.disabled = busy; });
      view.log.setAttribute("aria-busy", String(busy));
      if (busy) widget.transcript.holdIncoming();
      else widget.transcript.releaseIncoming();
    }

    function resizeInput() {
      view.input.style.height = "auto";
      view.input.style.height = `${Math.min(view.input.scrollHeight + 2, 132)}px`;
    }

    // A customer message from the moment it is on screen until the server has it: `clientId` stays
    // the same over all its tries. `typed`: the input's text, when it came from the input.
    function outgoingMessage(text, intent, typed, relatedTo) {
      const node = widget.transcript.messageNode({ role: "customer", text });
      return { text, intent: intent || null, relatedTo: relatedTo || null, clientId: newClientId(), typed, node };
    }

    // `intent`: given when the text is a chip's question; undefined when it came from the input.
    // `relatedTo`: the answer's id when the chip was one of its related questions.
    async function send(text, intent, relatedTo) {
      const fromInput = intent === undefined;
      const body = (text || "").trim();
      if (!body || state.busy) return;
      showError("");
      if (fromInput) {
        view.input.value = "";
        resizeInput();
      }
      const outgoing = outgoingMessage(body, intent, fromInput ? text : null, relatedTo);
      widget.transcript.append(outgoing.node);
      await deliver(outgoing);
    }

    // Sends `outgoing` (again), trying again while the server is busy or out of reach.
    async function deliver(outgoing) {
      if (state.busy) return;
      showError("");
      setPending(outgoing, "true");
      setBusy(true);
      try {
        const result = await widget.session.withConversation((conversation) => postMessage(conversation, outgoing));
        showDelivered(outgoing, result);
      } catch (error) {
        if (error.sending && ![401, 404, 422].includes(error.status)) setPending(outgoing, "failed");
        else discard(outgoing, error);
      } finally {
        showRetryWait(null);
        setBusy(false);
      }
    }

    // Posts the message, retrying while that can help. The errors of the message's own request
    // (not those of starting a conversation) carry `sending`.
    async function postMessage(conversation, outgoing) {
      const payload = { text: outgoing.text, client_id: outgoing.clientId };
      if (outgoing.intent) payload.intent = outgoing.intent;
      if (outgoing.intent && outgoing.relatedTo) payload.related_to = outgoing.relatedTo;
      const tryOnce = (retry) => {
        if (retry) view.retryLine.textContent = t("Trying again…");
        return widget.session.postTo(conversation, "/messages", payload);
      };
      try {
        return await sendWithRetry(tryOnce, showRetryWait);
      } catch (error) {
        error.sending = true;
        throw error;
      }
    }

    // `delayMs`: null once there is nothing to wait for.
    function showRetryWait(delayMs, error) {
      if (delayMs === null) {
        view.retryLine.textContent = "";
        return;
      }
      widget.transcript.hideTyping();
      const seconds = Math.max(1, Math.ceil(delayMs / 1000));
      view.retryLine.textContent =
        error.status === 0
          ? t("We can't reach the server right now - trying again in {seconds} s…", { seconds })
          : t("We're busy right now - trying again in {seconds} s…", { seconds });
    }

    // `pending`: "true" while it is on its way, "failed" once it gave up (with a Try again button),
    // null once the server has it.
    function setPending(outgoing, pending) {
      const node = outgoing.node;
      const failure = node.querySelector(".cb-send-failed");
      if (failure) failure.remove();
      if (pending === null) {
        node.removeAttribute("data-pending");
        return;
      }
      node.dataset.pending = pending;
      if (pending !== "failed") return;
      const again = el("button", {
        type: "button",
        class: "cb-resend",
        "data-testid": "chatbot-resend",
        text: t("Try again"),
      });
      again.addEventListener("click", () => deliver(outgoing));
      node.append(
        el(
          "div",
          { class: "cb-send-failed", "data-testid": "chatbot-send-failed" },
          el("span", { role: "alert", text: t("We couldn't send your message. Please try again.") }),
          again,
        ),
      );
    }

    function showDelivered(outgoing, result) {
      const sent = result && result.message;
      if (sent && sent.id !== undefined && sent.id !== null && widget.transcript.claim(sent.id)) {
        outgoing.node.dataset.id = String(sent.id);
        setPending(outgoing, null);
      } else {
        outgoing.node.remove(); // already on screen
      }
      // The conversation's language, which the first clear message decides: the widget follows.
      if (result && result.language) setLanguage(widget, result.language);
      if (result && result.reply) widget.transcript.render(result.reply);
    }

    // What to tell the customer when a request failed for good: a rate limit (429) says how
    // long to wait; anything else is "something went wrong".
    function errorText(error) {
      if (!error || error.status !== 429) return t("Sorry, something went wrong. Please try again.");
      const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
      const wait =
        seconds < 90 ? t("{seconds} s", { seconds }) : t("{minutes} min", { minutes: Math.ceil(seconds / 60) });
      return t("You've sent a lot of requests in a short time. Please try again in {wait}.", { wait });
    }

    // The server refused the message itself, or there is no conversation to send it to.
    function discard(outgoing, error) {
      outgoing.node.remove();
      showError(errorText(error));
      // Give the typed text back, unless the customer has started typing something else.
      if (outgoing.typed && !view.input.value) {
        view.input.value = outgoing.typed;
        resizeInput();
      }
    }

    async function requestHandoff() {
      if (state.busy) return;
      showError("");
      setBusy(true);
      try {
        const result = await widget.session.withConversation((conversation) =>
          widget.session.postTo(conversation, "/handoff", {}),
        );
        if (result && result.message) widget.transcript.render(result.message);
        widget.takeover.setStatus((result && result.status) || "waiting");
      } catch (error) {
        showError(errorText(error));
      } finally {
        setBusy(false);
      }
    }

    view.form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(view.input.value);
    });
    view.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send(view.input.value);
      }
    });
    view.input.addEventListener("input", () => {
      resizeInput();
      if (view.errorLine.textContent) showError("");
      if (view.input.value.trim()) widget.live.sendTyping();
    });
    view.handoffButton.addEventListener("click", requestHandoff);
    view.fileInput.addEventListener("change", () => {
      const file = view.fileInput.files && view.fileInput.files[0];
      view.fileInput.value = "";
      if (file) attach(file);
    });

    // Sends an image or PDF as the customer's next message. The bot does not answer it, so the
    // widget is not made busy (no typing dots); the socket's copy of it is dropped by id.
    async function attach(file) {
      showError("");
      view.fileInput.disabled = true;
      try {
        const message = await widget.session.withConversation((conversation) => upload(conversation, file));
        widget.transcript.render(message);
      } catch (error) {
        showError(attachErrorText(error));
      } finally {
        view.fileInput.disabled = false;
      }
    }

    async function upload(conversation, file) {
      const path = `/conversations/${encodeURIComponent(conversation.id)}/attachments?name=${encodeURIComponent(file.name)}`;
      let response;
      try {
        response = await fetch(API + path, {
          method: "POST",
          headers: { Accept: "application/json", Authorization: `Bearer ${conversation.token}`, "Content-Type": "application/octet-stream" },
          body: file,
          credentials: "omit",
        });
      } catch (_) {
        throw new ApiError(0);
      }
      if (!response.ok) throw new ApiError(response.status, retryAfterMs(response.headers.get("Retry-After")));
      return response.json();
    }

    function attachErrorText(error) {
      if (error && error.status === 413) return t("This file is too large to send.");
      if (error && (error.status === 415 || error.status === 422)) return t("Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent.");
      return errorText(error);
    }

    return { send, showError };
  }

  // ---------------------------------------------------------------- the conversation

  // Which conversation the widget talks in (kept in `storage` across page loads), starting one when
  // there is none or the last one was closed.
  function conversationSession(widget) {
    const { state, t } = widget;

    function token() {
      return state.conversation ? state.conversation.token : null;
    }

    function forget() {
      widget.live.close();
      state.conversation = null;
      storage.write(null);
    }

    async function start() {
      const created = await request("POST", "/conversations", { language: state.language });
      state.conversation = { id: String(created.id), token: String(created.token) };
      storage.write(state.conversation);
      widget.takeover.setStatus("bot");
      widget.live.connect();
      return state.conversation;
    }

    async function ensure() {
      if (state.conversation && state.status !== "closed") return state.conversation;
      if (state.conversation) {
        forget();
        widget.transcript.append(el("div", { class: "cb-divider", text: t("New conversation") }));
      }
      return start();
    }

    function postTo(conversation, path, body) {
      return request("POST", `/conversations/${encodeURIComponent(conversation.id)}${path}`, body, conversation.token);
    }

    function history(conversation) {
      return request("GET", `/conversations/${encodeURIComponent(conversation.id)}/messages`, undefined, conversation.token);
    }

    // Runs `call(conversation)` on the current conversation; if the server no longer knows it,
    // starts a new one and runs it there, once.
    async function withConversation(call) {
      const conversation = await ensure();
      try {
        return await call(conversation);
      } catch (error) {
        if (error.status !== 401 && error.status !== 404) throw error;
        forget();
        return call(await start());
      }
    }

    // Shows the conversation saved by an earlier page, if the server still has it.
    async function restore() {
      const saved = storage.read();
      if (!saved) return;
      state.conversation = saved;
      try {
        const past = await history(saved);
        const restored = past.conversation || {};
        setLanguage(widget, restored.language);
        (past.messages || []).forEach(widget.transcript.render);
        widget.takeover.setStatus(restored.status, null, restored.satisfaction);
        if (state.status !== "closed") widget.live.connect();
      } catch (error) {
        if (error.status === 401 || error.status === 403 || error.status === 404) forget();
        // Otherwise (offline, server error) keep it: the next send tries again.
      }
    }

    // After the socket dropped: fetches what was said meanwhile.
    async function resync() {
      const conversation = state.conversation;
      if (!conversation) return;
      const statusChanges = state.statusChanges;
      try {
        const past = await history(conversation);
        if (state.conversation !== conversation) return;
        // Read before a status that came since (a handoff's answer, a live event), its status
        // is older news: on the first socket open the fetch can overtake the handoff that
        // started the conversation and say "bot" after the widget already shows "waiting".
        const current = state.statusChanges === statusChanges;
        (past.messages || []).forEach(widget.transcript.receive);
        if (past.conversation && current) {
          setLanguage(widget, past.conversation.language);
          widget.takeover.setStatus(past.conversation.status, past.conversation.agent || null, past.conversation.satisfaction);
        }
      } catch (_) {
        /* the socket's own events and the next POST keep the widget usable */
      }
    }

    return { token, forget, postTo, withConversation, restore, resync };
  }

  // ---------------------------------------------------------------- live events

  // The conversation's WebSocket: staff messages, status changes and typing, both ways.
  function liveEvents(widget) {
    const { state } = widget;
    let current = null; // the open (or opening) socket
    let reconnectAttempts = 0;
    let reconnectTimer = null;
    let lastTypingSent = 0;

    function close() {
      clearTimeout(reconnectTimer);
      const socket = current;
      current = null;
      if (socket) socket.close();
    }

    function connect() {
      const conversation = state.conversation;
      if (!conversation || current || typeof WebSocket !== "function") return;
      clearTimeout(reconnectTimer);
      // The token goes in the first frame, not the URL: URLs end up in access logs.
      const url = `${ORIGIN.replace(/^http/, "ws")}/api/v1/conversations/${encodeURIComponent(conversation.id)}/ws`;
      let socket;
      try {
        socket = new WebSocket(url);
      } catch (_) {
        scheduleReconnect();
        return;
      }
      current = socket;
      socket.addEventListener("open", () => {
        socket.send(JSON.stringify({ token: conversation.token }));
        // Fetch what was said while no socket listened: after a drop, and on the first open too,
        // since the turn that created the conversation published its events (a person assigned
        // at once, say) before this socket existed.
        widget.session.resync();
        reconnectAttempts = 0;
      });
      socket.addEventListener("message", (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        handleEvent(data);
      });
      socket.addEventListener("close", (event) => {
        if (current !== socket) return; // closed on purpose
        current = null;
        // 1008 / 44xx: the server refused this conversation or token; retrying will not help.
        if (event.code === 1008 || (event.code >= 4400 && event.code < 4500)) return;
        scheduleReconnect();
      });
    }

    function scheduleReconnect() {
      if (!state.conversation || state.status === "closed") return;
      const attempt = Math.max(1, reconnectAttempts);
      const delay = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2);
      reconnectAttempts = attempt + 1;
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(connect, delay);
    }

    function handleEvent(event) {
      if (!event || typeof event !== "object") return;
      if (event.type === "message") widget.transcript.receive(event.message);
      else if (event.type === "status") widget.takeover.setStatus(event.status, event.agent);
      else if (event.type === "typing" && event.role === "staff") widget.transcript.setStaffTyping(Boolean(event.typing));
    }

    // The customer's typing, which the staff member sees; the bot has no use for it.
    function sendTyping() {
      const withPeople = state.status === "waiting" || state.status === "with_staff";
      if (!withPeople || !current || current.readyState !== WebSocket.OPEN) return;
      const now = Date.now();
      if (now - lastTypingSent < TYPING_EVERY_MS) return;
      lastTypingSent = now;
      current.send(JSON.stringify({ typing: true }));
    }

    return { connect, close, sendTyping };
  }

  // ---------------------------------------------------------------- takeover and status

  // The status line under the log, the "Talk to a person" button, and the notice when a person joins.
  function takeover(widget) {
    const { state, view, t } = widget;

    // `agent`: the name of the person who joined, when the server says (live events only).
    // `satisfaction`: the rating already given to a closed conversation, if any.
    function setStatus(status, agent, satisfaction) {
      const before = state.status;
      state.statusChanges += 1;
      state.status = STATUSES.includes(status) ? status : "bot";
      if (state.status !== "with_staff") state.agent = null;
      else if (agent) state.agent = agent;
      showStatus();
      // An offer to leave a message lasts while the bot has the conversation.
      if (state.status !== "bot") view.log.querySelectorAll(".cb-offline").forEach((form) => form.remove());
      view.handoffButton.disabled = state.status === "waiting" || state.status === "with_staff";
      if (state.status === "with_staff" && (before !== "with_staff" || agent)) {
        const text = agent
          ? t("{agent} has joined the conversation.", { agent })
          : t("You are talking to a person.");
        widget.transcript.append(el("div", { class: "cb-joined", "data-testid": "chatbot-joined", text }));
      }
      if (state.status === "closed") {
        if (!satisfaction) widget.rating.ask();
        widget.live.close();
      }
    }

    // The status line, in the widget's language.
    function showStatus() {
      const lines = {
        bot: "",
        waiting: t("Waiting for a person…"),
        with_staff: state.agent
          ? t("You are talking to {agent}.", { agent: state.agent })
          : t("A person has joined the conversation."),
        closed: t("This conversation has ended. Send a message to start a new one."),
      };
      view.statusLine.textContent = lines[state.status];
    }

    return { setStatus, showStatus };
  }

  // ---------------------------------------------------------------- satisfaction

  // Once staff closed the conversation: a 1 to 5 question, asked once per conversation. The
  // question is the admin's (or the built-in one) from the widget's configuration.
  function satisfactionRating(widget) {
    const { state, t } = widget;
    let askedFor = null; // the closed conversation whose question is on screen

    function ask() {
      const conversation = state.conversation;
      if (!conversation || askedFor === conversation.id) return;
      askedFor = conversation.id;
      const question = el("p", {
        class: "cb-rating-question",
        id: `cb-rate-${conversation.id}`,
        "data-testid": "chatbot-rating-question",
        text: adminText(state, "rating", ""),
      });
      if (!question.textContent) {
        // The configuration did not come when the widget loaded: ask for it again.
        loadConfig(widget).then(() => {
          question.textContent = adminText(state, "rating", "");
        });
      }
      const scale = el("div", { class: "cb-rating-scale", role: "group", "aria-labelledby": question.id });
      const thanks = el("p", { class: "cb-rating-thanks", role: "status" });
      const choices = [1, 2, 3, 4, 5].map((n) =>
        el("button", {
          type: "button",
          class: "cb-rate",
          "data-testid": "chatbot-rating",
          "data-rating": String(n),
          "aria-label": t("{n} out of 5", { n }),
          "aria-pressed": "false",
          text: String(n),
        }),
      );
      scale.append(el("span", { class: "cb-rating-end", "aria-hidden": "true", text: t("Not at all") }), ...choices);
      scale.append(el("span", { class: "cb-rating-end", "aria-hidden": "true", text: t("Very") }));
      choices.forEach((button, index) =>
        button.addEventListener("click", async () => {
          choices.forEach((other) => { other.disabled = true; });
          try {
            await request(
              "POST",
              `/conversations/${encodeURIComponent(conversation.id)}/satisfaction`,
              { rating: index + 1 },
              conversation.token,
            );
            choices.forEach((other) => other.setAttribute("aria-pressed", String(other === button)));
            thanks.textContent = t("Thank you for rating this conversation!");
          } catch (_) {
            choices.forEach((other) => { other.disabled = false; });
            widget.composer.showError(t("Sorry, something went wrong. Please try again."));
          }
        }),
      );
      widget.transcript.append(el("div", { class: "cb-rating", "data-testid": "chatbot-satisfaction" }, question, scale, thanks));
    }

    return { ask };
  }

  // ---------------------------------------------------------------- opening and closing

  // The launcher button and the panel it opens (floating mode; inline, the panel is always open).
  function floatingPanel(widget) {
    const { state, view, t } = widget;
    const launcher = view.launcher;

    // The launcher's name says what it does, and whether a message waits.
    function labelLauncher() {
      if (!launcher) return;
      const title = view.titleEl.textContent;
      let label = state.open ? t("Close chat: {title}", { title }) : t("Open chat: {title}", { title });
      if (!state.open && launcher.dataset.unread) label = t("Open chat: {title} (new message)", { title });
      launcher.setAttribute("aria-label", label);
    }

    function setOpen(open) {
      if (MODE !== "floating") return;
      state.open = open;
      view.root.dataset.open = String(open);
      view.panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      if (open) delete launcher.dataset.unread;
      labelLauncher();
      if (open) {
        widget.transcript.scrollToEnd();
        view.input.focus();
      } else {
        launcher.focus();
      }
    }

    // A message arrived while the panel is closed.
    function markUnread() {
      if (!launcher || state.open) return;
      launcher.dataset.unread = "true";
      labelLauncher();
    }

    if (launcher) {
      launcher.addEventListener("click", () => setOpen(!state.open));
      view.closeButton.addEventListener("click", () => setOpen(false));
      view.panel.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          setOpen(false);
        }
      });
    }

    return { markUnread, labelLauncher };
  }

  // The host element is the one thing the page's CSS can still reach: a tag no site styles, and
  // inline !important declarations (which outrank the page's own !important rules).
  function createHost() {
    const host = document.createElement("chatbot-widget");
    host.dataset.chatbotWidget = MODE;
    host.dataset.mode = MODE;
    const fixed = {
      display: "block",
      visibility: "visible",
      opacity: "1",
      transform: "none",
      filter: "none",
      contain: "none",
      margin: "0",
      padding: "0",
      border: "0",
    };
    if (MODE === "inline") Object.assign(fixed, { width: "100%", height: "100%" });
    for (const [property, value] of Object.entries(fixed)) host.style.setProperty(property, value, "important");
    return host;
  }

  function start() {
    if (MODE === "inline") {
      const target = script.dataset.target && document.querySelector(script.dataset.target);
      if (!target) {
        console.error(`chatbot widget: data-target ${script.dataset.target || "(missing)"} matches nothing`);
        return;
      }
      const host = createHost();
      target.append(host);
      mount(host);
    } else {
      if (document.querySelector('[data-chatbot-widget="floating"]')) return; // included twice
      const host = createHost();
      document.body.append(host);
      mount(host);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
