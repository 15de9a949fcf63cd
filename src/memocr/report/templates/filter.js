(function () {
  const table = document.getElementById("answers");
  const selects = Array.from(document.querySelectorAll("select[data-filter]"));
  const rows = Array.from(table.querySelectorAll("tbody tr"));
  const shown = document.getElementById("shown");
  const matching = document.getElementById("matching");
  const more = document.getElementById("more");
  const step = Number(table.dataset.pageRows);
  let limit = step;
  function apply() {
    const wanted = selects.map(s => [s.dataset.filter, s.value]).filter(([, v]) => v !== "");
    let matched = 0;
    for (const row of rows) {
      const keep = wanted.every(([k, v]) => row.dataset[k] === v);
      if (keep) matched += 1;
      row.hidden = !keep || matched > limit;
    }
    shown.textContent = String(Math.min(matched, limit));
    matching.textContent = String(matched);
    more.hidden = matched <= limit;
  }
  for (const s of selects) s.addEventListener("change", () => { limit = step; apply(); });
  more.addEventListener("click", () => { limit += step; apply(); });
  apply();
})();
