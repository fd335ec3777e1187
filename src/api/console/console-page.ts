/**
 * The console's one HTML page (GET /ui/): the sign-in form, the cluster view and the file
 * browser, each a section the scripts show or hide. No inline script or style (the CSP
 * forbids both); every control has a label or a text.
 */
export const CONSOLE_PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cairn console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="console.css">
<script src="app.js" defer></script>
<script src="cluster.js" defer></script>
<script src="files.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <h1>Cairn</h1>
  <nav id="nav" aria-label="Views" hidden>
    <a id="nav-cluster" href="#/cluster">Cluster</a>
    <a id="nav-files" href="#/files/">Files</a>
  </nav>
  <span id="health" class="badge" role="status" aria-live="polite"></span>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<main id="main" tabindex="-1">

<section id="signin-view" aria-labelledby="signin-title" hidden>
  <h2 id="signin-title">Sign in</h2>
  <form id="signin-form" class="card narrow">
    <label for="token">Access token</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
    <p class="hint">The <code>token</code> of <code>.cairn/cluster.json</code>. It stays in this tab (session storage) and is sent only in the Authorization header.</p>
    <button type="submit">Sign in</button>
    <p id="signin-error" class="error" role="alert"></p>
  </form>
</section>

<section id="cluster-view" aria-labelledby="cluster-title" hidden>
  <div class="title-row">
    <h2 id="cluster-title">Cluster</h2>
    <span id="cluster-updated" class="muted" aria-live="off"></span>
    <button id="cluster-refresh" type="button">Refresh now</button>
  </div>
  <p id="cluster-error" class="error" role="alert"></p>
  <div class="cards" id="summary">
    <div class="card"><h3>Health</h3><p class="big" id="sum-health">–</p><p class="muted" id="sum-reasons"></p></div>
    <div class="card"><h3>Metadata</h3><p class="big" id="sum-leader">–</p><p class="muted" id="sum-raft"></p></div>
    <div class="card"><h3>Chunks</h3><p class="big" id="sum-chunks">–</p>
      <p><span id="sum-under">–</span> under-replicated · <span id="sum-lost">–</span> lost</p></div>
    <div class="card"><h3>Data</h3><p class="big" id="sum-bytes">–</p><p class="muted" id="sum-files"></p></div>
  </div>

  <h3 id="meta-title">Metadata servers</h3>
  <div class="scroll"><table aria-labelledby="meta-title">
    <thead><tr><th scope="col">ID</th><th scope="col" class="hide-narrow">Address</th><th scope="col">Role</th><th scope="col" class="num">Term</th><th scope="col" class="num">Commit</th><th scope="col" class="num hide-narrow">Applied</th><th scope="col" class="num hide-narrow">Lag</th></tr></thead>
    <tbody id="meta-rows"></tbody>
  </table></div>

  <h3 id="chunks-title">Chunk servers</h3>
  <div class="scroll"><table aria-labelledby="chunks-title">
    <thead><tr><th scope="col">ID</th><th scope="col">Zone</th><th scope="col">State</th><th scope="col" class="wide">Used</th><th scope="col" class="num">Replicas</th><th scope="col" class="num hide-narrow">Heartbeat</th></tr></thead>
    <tbody id="chunk-rows"></tbody>
  </table></div>

  <div class="two">
    <div>
      <h3 id="ring-title">Ring shares <span class="muted" id="ring-version"></span></h3>
      <p class="muted">Share of replicas per server: expected by weight (light) and held now (dark).</p>
      <div id="ring-shares" role="list" aria-labelledby="ring-title"></div>
    </div>
    <div>
      <h3>Repair</h3>
      <div class="card">
        <label for="repair-progress">Chunks fully replicated</label>
        <progress id="repair-progress" max="1" value="0"></progress>
        <p id="repair-text">–</p>
      </div>
      <h3>Scrub</h3>
      <div class="card">
        <label for="scrub-progress">Replicas verified in the latest round</label>
        <progress id="scrub-progress" max="1" value="0"></progress>
        <p id="scrub-text">–</p>
      </div>
    </div>
  </div>

  <h3>Last hour</h3>
  <div class="charts">
    <figure class="card"><figcaption>Throughput through this gateway <span id="chart-throughput-now" class="muted"></span></figcaption><div id="chart-throughput" class="chart"></div></figure>
    <figure class="card"><figcaption>Repair rate <span id="chart-repair-now" class="muted"></span></figcaption><div id="chart-repair" class="chart"></div></figure>
    <figure class="card"><figcaption>Under-replicated chunks <span id="chart-under-now" class="muted"></span></figcaption><div id="chart-under" class="chart"></div></figure>
  </div>
</section>

<section id="files-view" aria-labelledby="files-title" hidden>
  <div class="title-row">
    <h2 id="files-title">Files</h2>
    <nav id="crumbs" aria-label="Path" class="crumbs"></nav>
  </div>
  <div class="toolbar">
    <label class="button" for="upload-input">Upload files…</label>
    <input id="upload-input" type="file" multiple class="visually-hidden">
    <button id="mkdir-button" type="button">New folder…</button>
    <button id="up-button" type="button">Up one level</button>
    <label for="page-size">Per page</label>
    <select id="page-size"><option>50</option><option selected>100</option><option>500</option><option>1000</option></select>
  </div>
  <div id="drop-zone" class="drop-zone">Drop files here to upload them into <span id="drop-dir">/</span></div>
  <ul id="uploads" class="uploads" aria-label="Uploads"></ul>
  <p id="files-error" class="error" role="alert"></p>
  <p id="files-message" class="ok" role="status"></p>
  <div class="scroll"><table aria-labelledby="files-title" id="files-table">
    <thead><tr><th scope="col">Name</th><th scope="col" class="num">Size</th><th scope="col" class="hide-narrow">Modified</th><th scope="col">Actions</th></tr></thead>
    <tbody id="file-rows"></tbody>
  </table></div>
  <div class="pager">
    <button id="prev-page" type="button">Previous page</button>
    <span id="page-info" class="muted"></span>
    <button id="next-page" type="button">Next page</button>
  </div>
  <section id="details" class="card" aria-labelledby="details-title" hidden tabindex="-1">
    <div class="title-row"><h3 id="details-title">File</h3>
      <button id="details-download" type="button">Download</button>
      <button id="details-close" type="button">Close</button></div>
    <dl id="details-list" class="facts"></dl>
    <h4 id="details-chunks-title">Chunks and replicas</h4>
    <div class="scroll"><table aria-labelledby="details-chunks-title">
      <thead><tr><th scope="col" class="num">#</th><th scope="col">Chunk</th><th scope="col" class="num">Size</th><th scope="col">Replicas</th></tr></thead>
      <tbody id="details-chunks"></tbody>
    </table></div>
  </section>
</section>
</main>

<dialog id="dialog" aria-labelledby="dialog-title">
  <form id="dialog-form" method="dialog">
    <h2 id="dialog-title"></h2>
    <p id="dialog-text"></p>
    <div id="dialog-field"><label id="dialog-label" for="dialog-input"></label>
    <input id="dialog-input" type="text" spellcheck="false"></div>
    <div class="actions"><button type="button" id="dialog-cancel">Cancel</button><button value="ok" id="dialog-ok">OK</button></div>
  </form>
</dialog>
</body>
</html>
`;
