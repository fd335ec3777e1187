/**
 * The file browser's script (GET /ui/files.js): pages a directory (GET /v1/ls with a cursor
 * stack for going back), shows a file's details and replica locations (GET
 * /v1/console/stat), downloads (GET /v1/files with the token in the header, saved through a
 * blob), uploads picked or dropped files (XHR PUT streamed from the File, with upload
 * progress; create-only first, replace after a confirmation), mkdir, rename (POST /v1/mv) and
 * delete after a confirmation. Browser code, kept as a string: no backquotes in it.
 */
export const CONSOLE_FILES_SCRIPT = String.raw`'use strict';
(function () {
  var C = window.Cairn, $ = C.$, el = C.el;
  var dir = '/', cursors = [null], page = 0, nextCursor = null, detailsPath = null;

  function say(msg) { $('files-message').textContent = msg; $('files-error').textContent = ''; }
  function fail(err) { $('files-message').textContent = ''; $('files-error').textContent = C.describe(err); }

  function dirFromHash(h) {
    var raw = h.slice('#/files'.length) || '/';
    try { raw = decodeURIComponent(raw); } catch (e) { raw = '/'; }
    var p = '/' + raw.split('/').filter(function (s) { return s !== ''; }).join('/');
    return p;
  }
  function go(p) { location.hash = '#/files' + (p === '/' ? '/' : p.split('/').map(encodeURIComponent).join('/')); }

  function drawCrumbs() {
    var parts = dir.split('/').filter(function (s) { return s !== ''; });
    var items = [el('a', { href: '#/files/', text: 'root' })];
    var acc = '';
    parts.forEach(function (seg, i) {
      acc += '/' + seg;
      items.push(el('span', { 'aria-hidden': 'true', text: '/' }));
      if (i === parts.length - 1) items.push(el('span', { 'aria-current': 'location', text: seg }));
      else { var p = acc; items.push(el('a', { href: '#', text: seg, onclick: function (ev) { ev.preventDefault(); go(p); } })); }
    });
    C.replace($('crumbs'), items);
    $('drop-dir').textContent = dir;
    $('up-button').disabled = dir === '/';
  }

  function load() {
    var limit = $('page-size').value;
    var q = '?limit=' + encodeURIComponent(limit) + (cursors[page] ? '&cursor=' + encodeURIComponent(cursors[page]) : '');
    var url = '/v1/ls' + (dir === '/' ? '' : '/' + C.encodePath(dir)) + q;
    return C.json('GET', url).then(function (body) {
      nextCursor = body.cursor;
      drawRows(body.entries);
      $('prev-page').disabled = page === 0;
      $('next-page').disabled = nextCursor === null;
      $('page-info').textContent = 'Page ' + (page + 1) + (body.entries.length ? ', ' + body.entries.length + ' entries' : ', empty');
      $('files-error').textContent = '';
    }, function (err) { C.replace($('file-rows'), []); fail(err); });
  }

  function drawRows(entries) {
    C.replace($('file-rows'), entries.map(function (e) {
      var isDir = e.type === 'dir';
      var name = el('button', { type: 'button', className: 'link', text: e.name + (isDir ? '/' : ''), 'aria-label': (isDir ? 'Open folder ' : 'Details of ') + e.name,
        onclick: function () { if (isDir) go(e.path); else showDetails(e.path); } });
      var actions = [];
      if (!isDir) actions.push(el('button', { type: 'button', text: 'Download', 'aria-label': 'Download ' + e.name, onclick: function () { download(e.path); } }));
      actions.push(el('button', { type: 'button', text: 'Rename', 'aria-label': 'Rename ' + e.name, onclick: function () { rename(e.path); } }));
      actions.push(el('button', { type: 'button', className: 'danger', text: 'Delete', 'aria-label': 'Delete ' + e.name, onclick: function () { remove(e.path, isDir); } }));
      return el('tr', { dataset: { name: e.name, type: e.type } }, [
        el('td', {}, [name]), el('td', { className: 'num', text: isDir ? '–' : C.bytes(e.size) }),
        el('td', { className: 'hide-narrow', text: e.mtime ? C.time(e.mtime) : '–' }), el('td', {}, [el('div', { className: 'actions' }, actions)])
      ]);
    }));
  }

  function showDetails(path) {
    var known = C.views.cluster.last();
    var cluster = known ? Promise.resolve(known) : C.json('GET', '/v1/console/cluster').catch(function () { return null; });
    return Promise.all([C.json('GET', '/v1/console/stat/' + C.encodePath(path)), cluster]).then(function (both) {
      var st = both[0], cluster = both[1];
      detailsPath = path;
      var where = {};
      if (cluster) {
        cluster.status.chunkServers.forEach(function (c) { where[c.id] = { state: c.state }; });
        (cluster.ring ? cluster.ring.servers : []).forEach(function (r) { if (where[r.id]) where[r.id].zone = r.zone; });
      }
      $('details-title').textContent = C.baseName(path);
      var facts = [['Path', st.path], ['Size', C.bytes(st.size) + ' (' + C.num(st.size) + ' bytes)'], ['Modified', C.time(st.mtime)], ['ETag', st.etag || '–'], ['CRC-32C', st.crc32c || '–'], ['Chunks', C.num(st.chunks.length) + (st.chunks.length === 0 ? ' (stored inline with the metadata)' : '')]];
      C.replace($('details-list'), facts.reduce(function (a, f) { a.push(el('dt', { text: f[0] })); a.push(el('dd', { text: f[1], dataset: { fact: f[0] } })); return a; }, []));
      C.replace($('details-chunks'), st.chunks.map(function (c, i) {
        var reps = c.replicas.length === 0 ? 'no verified replica' : c.replicas.map(function (id) {
          var w = where[id];
          return id + (w ? ' (' + (w.zone ? w.zone + ', ' : '') + w.state + ')' : '');
        }).join(', ');
        return el('tr', {}, [el('td', { className: 'num', text: String(i) }), el('td', { text: c.id }), el('td', { className: 'num', text: C.bytes(c.size) }), el('td', { text: reps })]);
      }));
      $('details').hidden = false;
      $('details').focus();
    }, fail);
  }

  function download(path) {
    say('Downloading ' + C.baseName(path) + '…');
    return C.request('GET', '/v1/files/' + C.encodePath(path)).then(function (res) { return res.blob(); }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = el('a', { href: url, download: C.baseName(path) });
      document.body.appendChild(a); a.click(); a.remove();
      window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      say('Downloaded ' + C.baseName(path) + ' (' + C.bytes(blob.size) + ').');
    }, fail);
  }

  /** One file: PUT streamed from the File with progress; If-None-Match first, replace only if confirmed. */
  function uploadOne(file, target, replace) {
    var li = el('li', { dataset: { name: file.name } }, [el('span', { text: file.name }), el('progress', { max: '100', value: '0', 'aria-label': 'Upload of ' + file.name }), el('span', { className: 'muted', text: 'starting' })]);
    $('uploads').appendChild(li);
    var bar = li.children[1], text = li.children[2];
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open('PUT', '/v1/files/' + C.encodePath(target));
      xhr.setRequestHeader('Authorization', 'Bearer ' + C.token());
      if (!replace) xhr.setRequestHeader('If-None-Match', '*');
      if (file.type) xhr.setRequestHeader('Content-Type', file.type);
      xhr.upload.onprogress = function (ev) {
        if (!ev.lengthComputable) return;
        bar.value = Math.floor((100 * ev.loaded) / ev.total);
        text.textContent = C.bytes(ev.loaded) + ' of ' + C.bytes(ev.total);
      };
      xhr.onload = function () {
        if (xhr.status === 201) { bar.value = 100; text.textContent = 'stored (' + C.bytes(file.size) + ')'; li.dataset.done = 'true'; resolve(true); return; }
        var err = C.errorOf(xhr.status, xhr.responseText);
        if (xhr.status === 412 && !replace) {
          li.remove();
          C.ask({ title: 'Replace ' + file.name + '?', text: target + ' exists already. Replace it with the file you picked?', ok: 'Replace', danger: true }).then(function (yes) {
            if (yes) uploadOne(file, target, true).then(resolve); else { say('Kept the existing ' + target + '.'); resolve(false); }
          });
          return;
        }
        if (xhr.status === 401) C.onUnauthorized();
        text.textContent = C.describe(err); li.classList.add('error'); resolve(false);
      };
      xhr.onerror = function () { text.textContent = 'The upload was cut off (network error).'; li.classList.add('error'); resolve(false); };
      xhr.send(file);
    });
  }

  function upload(files) {
    var list = Array.prototype.slice.call(files);
    if (list.length === 0) return;
    var target = dir;
    C.replace($('uploads'), []);
    list.reduce(function (p, f) { return p.then(function () { return uploadOne(f, C.joinPath(target, f.name), false); }); }, Promise.resolve()).then(function () {
      say('Uploaded into ' + target + '.');
      if (dir === target) load();
    });
  }

  function mkdir() {
    C.ask({ title: 'New folder', text: 'In ' + dir, label: 'Folder name', ok: 'Create' }).then(function (name) {
      if (name === null || name.trim() === '') return;
      var p = C.joinPath(dir, name.trim());
      C.json('POST', '/v1/mkdir/' + C.encodePath(p)).then(function () { say('Created ' + p + '.'); load(); }, fail);
    });
  }

  function rename(path) {
    C.ask({ title: 'Rename or move', text: 'Rename ' + path + ' (a full path moves it).', label: 'New name or path', value: C.baseName(path), ok: 'Rename' }).then(function (to) {
      if (to === null || to.trim() === '') return;
      to = to.trim();
      var dest = to.charAt(0) === '/' ? to : C.joinPath(C.parentOf(path), to);
      C.json('POST', '/v1/mv', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ from: path, to: dest }) }).then(function () {
        say('Renamed ' + path + ' to ' + dest + '.');
        if (detailsPath === path) $('details').hidden = true;
        load();
      }, fail);
    });
  }

  function remove(path, isDir) {
    C.ask({ title: 'Delete ' + C.baseName(path) + '?', text: isDir ? 'This deletes the folder ' + path + ' and everything in it. It cannot be undone.' : 'This deletes ' + path + '. It cannot be undone.', ok: 'Delete', danger: true }).then(function (yes) {
      if (!yes) return;
      C.request('DELETE', '/v1/files/' + C.encodePath(path) + (isDir ? '?recursive=true' : '')).then(function () {
        say('Deleted ' + path + '.');
        if (detailsPath === path) $('details').hidden = true;
        load();
      }, fail);
    });
  }

  C.views.files = {
    show: function (hash) {
      var d = dirFromHash(hash);
      if (d !== dir) { dir = d; cursors = [null]; page = 0; $('details').hidden = true; C.replace($('uploads'), []); say(''); }
      drawCrumbs();
      return load();
    },
    reload: function () { return load(); }
  };

  document.addEventListener('DOMContentLoaded', function () {
    $('upload-input').addEventListener('change', function (ev) { upload(ev.target.files); ev.target.value = ''; });
    $('upload-input').addEventListener('focus', function () { document.querySelector('label[for=upload-input]').classList.add('input-focus'); });
    $('upload-input').addEventListener('blur', function () { document.querySelector('label[for=upload-input]').classList.remove('input-focus'); });
    $('mkdir-button').addEventListener('click', mkdir);
    $('up-button').addEventListener('click', function () { go(C.parentOf(dir)); });
    $('page-size').addEventListener('change', function () { cursors = [null]; page = 0; load(); });
    $('next-page').addEventListener('click', function () { if (nextCursor === null) return; cursors[page + 1] = nextCursor; page++; load(); });
    $('prev-page').addEventListener('click', function () { if (page === 0) return; page--; load(); });
    $('details-close').addEventListener('click', function () { $('details').hidden = true; });
    $('details-download').addEventListener('click', function () { if (detailsPath) download(detailsPath); });
    $('details').addEventListener('keydown', function (ev) { if (ev.key === 'Escape') $('details').hidden = true; });
    var zone = $('files-view');
    zone.addEventListener('dragover', function (ev) { ev.preventDefault(); $('drop-zone').classList.add('over'); });
    zone.addEventListener('dragleave', function (ev) { if (ev.target === zone || ev.target === $('drop-zone')) $('drop-zone').classList.remove('over'); });
    zone.addEventListener('drop', function (ev) {
      ev.preventDefault();
      $('drop-zone').classList.remove('over');
      if (ev.dataTransfer && ev.dataTransfer.files.length) upload(ev.dataTransfer.files);
    });
  });
})();
`;
