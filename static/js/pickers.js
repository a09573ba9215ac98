// Pickers that follow each other (registry/promotions/form.html). The page works without this file:
// the server renders every choice, grouped by model, and checks the combination on submit.
//
// A model <select data-version-picker="ID"> refills the version <select id="ID"> with the chosen
// model's versions, read from the API (its option's data-versions-url), newest first with the
// aliases they hold. A model <select data-alias-picker="ID"> offers in the alias <select id="ID">
// only the aliases the chosen model's policy governs (its option's data-aliases).
(function () {
  'use strict';

  function option(value, label) {
    const element = document.createElement('option');
    element.value = value;
    element.textContent = label;
    return element;
  }

  function narrowAliases(aliasSelect, chosen) {
    const allowed = ((chosen && chosen.dataset.aliases) || '').split(' ').filter(Boolean);
    let firstAllowed = null;
    for (const item of aliasSelect.options) {
      const offered = allowed.length === 0 || allowed.includes(item.value);
      item.hidden = !offered;
      item.disabled = !offered;
      if (offered && firstAllowed === null) firstAllowed = item;
    }
    const current = aliasSelect.selectedOptions[0];
    if ((!current || current.disabled) && firstAllowed) firstAllowed.selected = true;
  }

  async function refillVersions(versionSelect, chosen) {
    const url = chosen && chosen.dataset.versionsUrl;
    if (!url) return;
    versionSelect.disabled = true;
    try {
      const response = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!response.ok) return; // keep the server's list; the server checks the choice anyway
      const versions = (await response.json()).filter((v) => !v.deleted_at);
      versions.sort((a, b) => b.version - a.version);
      const group = document.createElement('optgroup');
      group.label = chosen.value;
      for (const v of versions) {
        const aliases = (v.aliases || []).map((alias) => ` · @${alias}`).join('');
        group.append(option(String(v.version), `Version ${v.version}${aliases}`));
      }
      versionSelect.replaceChildren(option('', versions.length ? 'Choose a version' : 'No versions yet'), group);
    } catch (error) {
      // Offline or the session ended: the server-rendered list stays.
    } finally {
      versionSelect.disabled = false;
    }
  }

  for (const modelSelect of document.querySelectorAll('select[data-version-picker], select[data-alias-picker]')) {
    const versionSelect = document.getElementById(modelSelect.dataset.versionPicker || '');
    const aliasSelect = document.getElementById(modelSelect.dataset.aliasPicker || '');
    const follow = () => {
      const chosen = modelSelect.selectedOptions[0];
      if (aliasSelect) narrowAliases(aliasSelect, chosen && chosen.value ? chosen : null);
      if (versionSelect && chosen && chosen.value) refillVersions(versionSelect, chosen);
    };
    modelSelect.addEventListener('change', follow);
    if (aliasSelect && modelSelect.value) narrowAliases(aliasSelect, modelSelect.selectedOptions[0]);
  }
})();
