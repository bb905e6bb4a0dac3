// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";

  // "Select all" checkbox for the rows of a list.
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      document.querySelectorAll('input[name="' + box.dataset.selectAll + '"]').forEach(function (item) {
        item.checked = box.checked;
      });
    });
  });

  // Suggestions for organization fields: <input data-suggest="/organisationen/vorschlaege" list="...">.
  document.querySelectorAll("input[data-suggest]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (input.value.trim().length < 2) { return; }
        fetch(input.dataset.suggest + "?q=" + encodeURIComponent(input.value), {credentials: "same-origin"})
          .then(function (response) { return response.ok ? response.json() : []; })
          .then(function (items) {
            list.replaceChildren.apply(list, items.map(function (item) {
              var option = document.createElement("option");
              option.value = item.value;
              option.label = item.label;
              return option;
            }));
          });
      }, 150);
    });
  });

  // Confirm destructive buttons: <button data-confirm="Wirklich …?">.
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
