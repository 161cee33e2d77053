// Shared helpers of the staff and admin consoles. Pages build DOM with textContent only: customer
// text and knowledge base content never pass through innerHTML.
(() => {
  "use strict";
  const meta = document.querySelector('meta[name="csrf-token"]');

  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : JSON.stringify(detail));
      this.status = status;
      this.detail = detail;
    }
  }

  // JSON call with the session's CSRF token; throws ApiError with the server's `detail`.
  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (meta) headers["X-CSRF-Token"] = meta.content;
    const options = { method, headers, credentials: "same-origin" };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body instanceof Blob) {
      headers["Content-Type"] = "application/octet-stream"; // a file sent as itself (attachments)
      options.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data && data.detail !== undefined ? data.detail : response.statusText);
    return data;
  }

  // el("td", {class: "x", text: "..."}, child, ...): an element, text set safely.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A WebSocket on this site that reconnects with back-off; onEvent gets each parsed event.
  function liveSocket(path, onEvent, onState) {
    let socket = null;
    let delay = 500;
    let stopped = false;
    const connect = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}${path}`);
      socket.addEventListener("open", () => { delay = 500; if (onState) onState(true); });
      socket.addEventListener("message", (event) => {
        try { onEvent(JSON.parse(event.data)); } catch (error) { console.warn("bad event", error); }
      });
      socket.addEventListener("close", () => {
        if (onState) onState(false);
        if (!stopped) setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      });
    };
    connect();
    return {
      send(data) { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(data)); },
      stop() { stopped = true; if (socket) socket.close(); },
    };
  }

  function formatTime(iso) {
    const when = new Date(iso);
    return Number.isNaN(when.getTime()) ? "" : when.toLocaleString(document.documentElement.lang || undefined);
  }

  window.Console = { api, el, liveSocket, formatTime, ApiError, csrf: meta ? meta.content : null };
})();
