// Enter in the funnel's Name field saves it (as new, or its changes) instead of only showing the steps.
(function () {
  "use strict";
  var name = document.querySelector(".funnel-builder input[name=name]");
  if (!name) return;
  name.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    var save = name.form.querySelector("button[formaction^='/funnels/']") ||
      name.form.querySelector("button[formaction='/funnels']");
    if (save && name.value.trim()) {
      event.preventDefault();
      save.click();
    }
  });
})();
