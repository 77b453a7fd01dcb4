// posguard dashboard: the little behaviour htmx does not cover. No inline scripts (CSP).
document.addEventListener("change", (ev) => {
  const el = ev.target;
  const auto = el instanceof HTMLSelectElement || el instanceof HTMLInputElement;
  if (auto && el.hasAttribute("data-autosubmit") && el.form) {
    el.form.requestSubmit();
  }
});
