// Reckon portal: the only script. It submits the subscription switcher
// when its choice changes (the Go button does the same without script).
(function () {
  "use strict";
  var sel = document.getElementById("subscription-select");
  if (sel && sel.form) {
    sel.addEventListener("change", function () { sel.form.submit(); });
    var go = document.getElementById("subscription-go");
    if (go) { go.classList.add("js-hidden"); }
  }
  // The tag key only matters when grouping by tag.
  var gb = document.getElementById("groupBy");
  var tk = document.getElementById("tagKey");
  if (gb && tk) {
    var sync = function () { tk.closest(".field").classList.toggle("dim", gb.value !== "tag"); };
    gb.addEventListener("change", sync);
    sync();
  }
})();
