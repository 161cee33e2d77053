// Transcript page: staff mark each bot turn right, or wrong with the intent the customer meant.
// Every string shown comes from the page (#page-strings); text is set with textContent only.
(() => {
  "use strict";
  const source = document.getElementById("page-strings");
  if (!source) return;
  const strings = JSON.parse(source.textContent);

  function describe(verdict) {
    if (verdict.verdict === "right") return strings.right;
    return strings.wrong.replace("{intent}", verdict.intent || strings.out_of_scope);
  }

  async function send(box, body) {
    const state = box.querySelector(".correction__state");
    const buttons = box.querySelectorAll("button");
    buttons.forEach((button) => { button.disabled = true; });
    state.textContent = strings.saving;
    try {
      const verdict = await window.Console.api("POST", box.dataset.url, body);
      state.textContent = describe(verdict);
      box.dataset.verdict = verdict.verdict;
      box.querySelector(".correction__pick").hidden = true;
      box.querySelector('[data-action="wrong"]').setAttribute("aria-expanded", "false");
    } catch (error) {
      state.textContent = strings.failed.replace("{detail}", error.detail || error.message);
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest(".correction button[data-action]");
    if (!button) return;
    const box = button.closest(".correction");
    const pick = box.querySelector(".correction__pick");
    if (button.dataset.action === "right") {
      send(box, { verdict: "right" });
    } else if (button.dataset.action === "wrong") {
      pick.hidden = !pick.hidden;
      button.setAttribute("aria-expanded", String(!pick.hidden));
      if (!pick.hidden) pick.querySelector("select").focus();
    } else if (button.dataset.action === "save") {
      const chosen = pick.querySelector("select").value;
      send(box, { verdict: "wrong", intent: chosen || null });
    }
  });
})();
