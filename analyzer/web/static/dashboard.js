// The trend chart's hover: a tooltip and a guide line on the point under the pointer, arrow keys move it.
(function () {
  "use strict";

  function setUp(box) {
    var svg = box.querySelector("svg.chart");
    var tip = box.querySelector(".tip");
    var guide = svg.querySelector(".guide");
    var points = Array.prototype.slice.call(svg.querySelectorAll(".pt"));
    var current = -1;
    if (!points.length) return;
    points.forEach(function (point) {
      var title = point.querySelector("title");
      if (title) title.remove();  // the tooltip below replaces the browser's
    });

    function show(index) {
      if (current >= 0) points[current].classList.remove("on");
      current = index;
      var point = points[index];
      point.classList.add("on");
      var x = point.getAttribute("data-x") + "%";
      guide.setAttribute("x1", x);
      guide.setAttribute("x2", x);
      guide.classList.add("on");
      tip.textContent = "";
      var label = document.createElement("span");
      label.textContent = point.getAttribute("data-label");
      var value = document.createElement("strong");
      value.textContent = point.getAttribute("data-value");
      tip.appendChild(label);
      tip.appendChild(value);
      var previous = point.getAttribute("data-previous");
      if (previous) {
        var before = document.createElement("span");
        before.textContent = "before: " + previous;
        tip.appendChild(before);
      }
      tip.hidden = false;
      var width = box.clientWidth;
      var left = parseFloat(point.getAttribute("data-x")) / 100 * width;
      var tipWidth = tip.offsetWidth;
      tip.style.left = Math.max(0, Math.min(width - tipWidth, left - tipWidth / 2)) + "px";
      tip.style.top = "-8px";
    }

    function hide() {
      if (current >= 0) points[current].classList.remove("on");
      current = -1;
      guide.classList.remove("on");
      tip.hidden = true;
    }

    points.forEach(function (point, index) {
      point.addEventListener("mouseenter", function () { show(index); });
    });
    svg.addEventListener("mouseleave", hide);
    svg.setAttribute("tabindex", "0");
    svg.addEventListener("focus", function () { show(current >= 0 ? current : points.length - 1); });
    svg.addEventListener("blur", hide);
    svg.addEventListener("keydown", function (event) {
      var moves = {ArrowLeft: -1, ArrowRight: 1, Home: -points.length, End: points.length};
      if (!(event.key in moves)) return;
      event.preventDefault();
      show(Math.max(0, Math.min(points.length - 1, (current < 0 ? 0 : current) + moves[event.key])));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".chart-box"), setUp);
  });
})();
