// The send page's progress: while a newsletter is being sent, ask every two seconds how far it got.
// Without JavaScript the page shows the counts of when it was loaded and a link to reload it.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress]");
  if (!box || box.dataset.status !== "sending") { return; }
  var number = new Intl.NumberFormat("de-DE");

  function show(data) {
    Object.keys(data.counts).forEach(function (key) {
      var count = box.querySelector('[data-count="' + key + '"]');
      if (count) { count.textContent = number.format(data.counts[key]); }
      var bar = box.querySelector('[data-bar="' + key + '"]');
      if (bar) { bar.style.width = (data.total ? 100 * data.counts[key] / data.total : 0) + "%"; }
    });
    box.querySelector('[data-count="total"]').textContent = number.format(data.total);
    box.querySelector("[data-percent]").textContent = data.percent;
    box.querySelector('[role="progressbar"]').setAttribute("aria-valuenow", data.percent);
  }

  function poll() {
    fetch(box.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        show(data);
        if (data.status !== box.dataset.status) {
          window.location.reload(); // finished, paused or cancelled: the buttons change too
          return;
        }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
