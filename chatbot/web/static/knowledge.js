// The intent form: a live preview of the answer and a filter over the follow-up checkboxes.
// The preview HTML comes from the server, sanitised by chatbot/api/markdown.py (nh3): it is the
// only markup this page inserts; everything else is set through textContent.
(() => {
  "use strict";
  const stringsNode = document.getElementById("page-strings");
  const strings = stringsNode ? JSON.parse(stringsNode.textContent) : {};
  const DEBOUNCE_MS = 250;

  function setupPreview() {
    const answer = document.querySelector('[data-testid="kb-answer"]');
    const preview = document.querySelector('[data-testid="kb-answer-preview"]');
    if (!answer || !preview) return;
    let timer = null;
    let latest = 0;

    const showText = (text, className) => {
      preview.replaceChildren(window.Console.el("p", { class: className, text }));
    };

    const refresh = async () => {
      const asked = ++latest;
      const markdown = answer.value;
      if (!markdown.trim()) {
        showText(strings.previewEmpty, "muted");
        return;
      }
      try {
        const { html } = await window.Console.api("POST", answer.dataset.previewUrl, { markdown });
        // A slow reply must not overwrite the preview of newer text.
        if (asked === latest) preview.innerHTML = html;
      } catch (error) {
        if (asked === latest) showText(strings.previewFailed, "kb-preview-error");
      }
    };

    answer.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, DEBOUNCE_MS);
    });
  }

  function setupFollowUpFilter() {
    const filter = document.querySelector(".kb-follow-up-filter");
    if (!filter) return;
    const options = Array.from(document.querySelectorAll(".kb-follow-up-list [data-search]"));
    const noMatch = document.querySelector(".kb-no-match");
    filter.hidden = false; // useful only with this script running
    filter.addEventListener("input", () => {
      const needle = filter.value.trim().toLowerCase();
      let shown = 0;
      for (const option of options) {
        const visible = !needle || option.dataset.search.includes(needle);
        option.hidden = !visible;
        if (visible) shown += 1;
      }
      if (noMatch) noMatch.hidden = shown > 0;
    });
  }

  setupPreview();
  setupFollowUpFilter();
})();
