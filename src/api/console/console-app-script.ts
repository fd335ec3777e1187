/**
 * The console's shared script (GET /ui/app.js), loaded first: the token (sessionStorage only),
 * the API helper (Authorization header; errors turned into words), formatting, the dialog, and
 * the hash router that shows one view. cluster.js and files.js register views on window.Cairn.
 * Browser code, kept as a string (served as it is; no build step): no backquotes in it.
 */
export const CONSOLE_APP_SCRIPT = String.raw`'use strict';
(function () {
  var TOKEN_KEY = 'cairn.console.token';
  var C = { views: {} };
  window.Cairn = C;
  var $ = function (id) { return document.getElementById(id); };
  C.$ = $;

  C.token = function () { return sessionStorage.getItem(TOKEN_KEY); };
  C.setToken = function (t) { if (t === null) sessionStorage.removeItem(TOKEN_KEY); else sessionStorage.setItem(TOKEN_KEY, t); };

  /** Words for the gateway's error codes; the gateway's own message follows them. */
  var WORDS = {
    Unauthorized: 'The token was refused. Sign in again with the token of .cairn/cluster.json.',
    NotFound: 'Not found',
    AlreadyExists: 'Already exists',
    NotEmpty: 'The folder is not empty',
    IsADirectory: 'That is a folder, not a file',
    NotADirectory: 'A part of that path is a file, not a folder',
    InvalidPath: 'That is not a valid path',
    InvalidArgument: 'The request was not valid',
    PreconditionFailed: 'A file with that name exists already',
    TooLarge: 'Too large for this gateway',
    Unavailable: 'The cluster cannot answer now (no metadata leader, or not enough chunk servers); try again in a moment',
    Timeout: 'The cluster took too long to answer; try again',
    Internal: 'The gateway failed unexpectedly; its log has the details'
  };
  C.ApiError = function (status, code, message) {
    this.status = status; this.code = code; this.message = message;
  };
  C.describe = function (err) {
    if (err instanceof C.ApiError) {
      var words = WORDS[err.code] || ('Error ' + err.status);
      var detail = err.message && err.message !== words ? ': ' + err.message : '';
      return words + detail + ' (' + err.code + ', HTTP ' + err.status + ')';
    }
    return 'Could not reach the gateway: ' + (err && err.message ? err.message : String(err));
  };
  /** An error answer (JSON or not) as an ApiError. */
  C.errorOf = function (status, text) {
    var code = status === 401 ? 'Unauthorized' : 'HTTP' + status, message = '';
    try { var b = JSON.parse(text); if (b && b.error) { code = b.error.code || code; message = b.error.message || ''; } } catch (e) { message = ''; }
    return new C.ApiError(status, code, message);
  };
  C.onUnauthorized = function () {
    C.setToken(null);
    C.showSignIn('The token was refused (HTTP 401). Sign in again.');
  };

  /** fetch with the token; resolves to the Response when ok, else throws an ApiError (401 also signs out). */
  C.request = function (method, url, opts) {
    opts = opts || {};
    var headers = Object.assign({}, opts.headers || {});
    var t = C.token();
    if (t) headers.Authorization = 'Bearer ' + t;
    return fetch(url, { method: method, headers: headers, body: opts.body, cache: 'no-store', credentials: 'omit' }).then(function (res) {
      if (res.ok) return res;
      return res.text().then(function (text) {
        var err = C.errorOf(res.status, text);
        if (res.status === 401 && !opts.noSignOut) C.onUnauthorized();
        throw err;
      });
    });
  };
  C.json = function (method, url, opts) { return C.request(method, url, opts).then(function (r) { return r.status === 204 ? null : r.json(); }); };

  /** A remote path's URL form: every segment percent-encoded, no leading slash. */
  C.encodePath = function (p) { return p.split('/').filter(function (s) { return s !== ''; }).map(encodeURIComponent).join('/'); };
  C.joinPath = function (dir, name) { return (dir === '/' ? '' : dir) + '/' + name; };
  C.parentOf = function (p) { var i = p.lastIndexOf('/'); return i <= 0 ? '/' : p.slice(0, i); };
  C.baseName = function (p) { return p.slice(p.lastIndexOf('/') + 1); };

  C.bytes = function (n) {
    if (n === null || n === undefined) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], i = 0, v = n;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + u[i];
  };
  C.rate = function (n) { return n === null || n === undefined ? '–' : C.bytes(Math.round(n)) + '/s'; };
  C.num = function (n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'); };
  C.pct = function (f) { return (100 * f).toFixed(1) + '%'; };
  C.duration = function (s) {
    if (s === null || s === undefined) return 'unknown';
    if (s < 90) return Math.round(s) + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  };
  C.time = function (ms) {
    var d = new Date(ms);
    return d.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  };

  /** el('td', {className: 'num', text: '3'}, [children]) */
  C.el = function (tag, props, children) {
    var e = document.createElement(tag);
    if (props) Object.keys(props).forEach(function (k) {
      var v = props[k];
      if (v === undefined || v === null) return;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'className') e.className = v;
      else if (k === 'onclick') e.addEventListener('click', v);
      else if (k === 'dataset') Object.keys(v).forEach(function (d) { e.dataset[d] = v[d]; });
      else e.setAttribute(k, v);
    });
    (children || []).forEach(function (c) { if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  };
  /** A bar of fraction f (0..1); the width is set through the CSSOM, which the CSP allows. */
  C.meter = function (f, cls, label) {
    var inner = C.el('span');
    inner.style.width = Math.max(0, Math.min(1, f)) * 100 + '%';
    return C.el('div', { className: 'meter' + (cls ? ' ' + cls : ''), role: 'img', 'aria-label': label }, [inner]);
  };
  C.replace = function (parent, children) {
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    children.forEach(function (c) { parent.appendChild(c); });
  };

  /**
   * The dialog: ask({title, text, label, value, ok, danger}) resolves to the input's value (or
   * true without a field) on OK, null on Cancel or Escape.
   */
  C.ask = function (o) {
    var d = $('dialog');
    $('dialog-title').textContent = o.title;
    $('dialog-text').textContent = o.text || '';
    $('dialog-field').hidden = o.label === undefined;
    $('dialog-label').textContent = o.label || '';
    var input = $('dialog-input');
    input.value = o.value || '';
    var ok = $('dialog-ok');
    ok.textContent = o.ok || 'OK';
    ok.className = o.danger ? 'danger' : '';
    d.returnValue = 'cancel';
    return new Promise(function (resolve) {
      d.addEventListener('close', function onClose() {
        d.removeEventListener('close', onClose);
        if (d.returnValue !== 'ok') resolve(null);
        else resolve(o.label === undefined ? true : input.value);
      });
      d.showModal();
      if (o.label !== undefined) { input.focus(); input.select(); } else $('dialog-cancel').focus();
    });
  };

  C.showSignIn = function (message) {
    C.stopViews();
    $('nav').hidden = true; $('sign-out').hidden = true; $('health').textContent = '';
    ['cluster-view', 'files-view'].forEach(function (id) { $(id).hidden = true; });
    $('signin-view').hidden = false;
    $('signin-error').textContent = message || '';
    $('token').focus();
  };
  C.stopViews = function () { Object.keys(C.views).forEach(function (k) { if (C.views[k].stop) C.views[k].stop(); }); };
  C.setHealth = function (h) {
    var b = $('health');
    b.textContent = h || '';
    b.className = 'badge ' + (h || '');
  };

  /** #/cluster, #/files/<path> */
  C.route = function () {
    if (!C.token()) { C.showSignIn(''); return; }
    var h = location.hash || '#/cluster';
    var name = h.indexOf('#/files') === 0 ? 'files' : 'cluster';
    $('signin-view').hidden = true; $('nav').hidden = false; $('sign-out').hidden = false;
    ['cluster', 'files'].forEach(function (v) {
      $(v + '-view').hidden = v !== name;
      if (v === name) $('nav-' + v).setAttribute('aria-current', 'page'); else $('nav-' + v).removeAttribute('aria-current');
      if (v !== name && C.views[v] && C.views[v].stop) C.views[v].stop();
    });
    var view = C.views[name];
    if (view) view.show(h);
  };

  document.addEventListener('DOMContentLoaded', function () {
    $('signin-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var t = $('token').value.trim();
      if (!t) return;
      $('signin-error').textContent = '';
      C.setToken(t);
      C.request('GET', '/v1/status', { noSignOut: true }).then(function () {
        $('token').value = '';
        C.route();
        $('main').focus();
      }, function (err) {
        C.setToken(null);
        $('signin-error').textContent = err.status === 401 ? 'That token was refused (HTTP 401). Use the token of .cairn/cluster.json.' : C.describe(err);
      });
    });
    $('dialog-cancel').addEventListener('click', function () { $('dialog').close('cancel'); });
    $('sign-out').addEventListener('click', function () { C.setToken(null); location.hash = ''; C.showSignIn('Signed out.'); });
    window.addEventListener('hashchange', C.route);
    C.route();
  });
})();
`;
