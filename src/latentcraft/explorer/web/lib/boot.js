// A classic script, run before each page's module: a page opened from disk (file://)
// cannot load its modules or model files (browsers block both there), so instead of
// hanging on "Loading…" it says how to serve the folder.
(function () {
  if (location.protocol !== 'file:') return;
  var folder = decodeURIComponent(location.pathname.replace(/\/[^/]*$/, '')) || '.';
  var status = document.getElementById('status');
  window.lc = { ready: false, fileProtocol: true, errors: [] };
  if (!status) return;
  status.textContent = 'This page was opened as a file (file://), where browsers block the scripts and model '
    + 'files it needs. Serve the folder instead: run  latentcraft serve ' + folder + '  (or any static server, '
    + 'e.g.  python -m http.server -d ' + folder + ') and open the http://127.0.0.1 address it prints.';
  status.classList.add('error');
})();
