// Marks each chart whose series the browser laid out with a visible size,
// so a headless browser (and a curious reader) can tell the charts rendered.
(function () {
  var charts = document.querySelectorAll("svg.chart");
  var rendered = 0;
  charts.forEach(function (svg) {
    var shapes = svg.querySelectorAll(".series polyline, .series circle");
    var visible = Array.prototype.some.call(shapes, function (el) {
      var b = el.getBBox();
      return b.width > 0 || b.height > 0;
    });
    if (visible) {
      rendered += 1;
      svg.setAttribute("data-rendered", "true");
    }
  });
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-charts-rendered", String(rendered));
})();
