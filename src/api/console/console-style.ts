/** The console's stylesheet (GET /ui/console.css): plain, readable at 1280×800 and on a phone. */
export const CONSOLE_STYLE = String.raw`:root {
  --fg: #1d2430; --muted: #5b6675; --bg: #f5f6f8; --card: #fff; --line: #d8dde4;
  --accent: #1f5fbf; --ok: #1c7a3d; --warn: #a35c00; --bad: #b3261e;
  --bar: #2f6fd0; --bar-light: #b8cdf0;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
[hidden] { display: none !important; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: 6px 10px; }
.skip:focus { left: 8px; z-index: 10; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #18202c; color: #fff; flex-wrap: wrap; }
.top h1 { font-size: 20px; margin: 0; letter-spacing: .5px; }
.top nav { display: flex; gap: 4px; }
.top nav a { color: #dfe6f0; text-decoration: none; padding: 6px 12px; border-radius: 6px; }
.top nav a[aria-current="page"] { background: #324055; color: #fff; }
.top #sign-out { margin-left: auto; }
.badge { padding: 3px 10px; border-radius: 999px; font-weight: 600; font-size: 13px; text-transform: uppercase; }
.badge:empty { display: none; }
.healthy { background: #d7f0df; color: var(--ok); }
.degraded { background: #fde9c8; color: var(--warn); }
.unavailable { background: #f9d6d3; color: var(--bad); }
main { padding: 16px 20px 40px; max-width: 1400px; margin: 0 auto; }
main:focus { outline: none; }
h2 { margin: 4px 0 12px; font-size: 22px; }
h3 { margin: 20px 0 8px; font-size: 16px; }
h4 { margin: 14px 0 6px; font-size: 14px; }
.title-row { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.title-row h2, .title-row h3 { margin-right: auto; }
.muted { color: var(--muted); font-size: 13px; }
.error { color: var(--bad); font-weight: 600; margin: 6px 0; }
.error:empty, .ok:empty { display: none; }
.ok { color: var(--ok); margin: 6px 0; }
.hint { color: var(--muted); font-size: 13px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card h3 { margin: 0 0 4px; font-size: 13px; color: var(--muted); text-transform: uppercase; letter-spacing: .4px; }
.narrow { max-width: 460px; display: grid; gap: 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; }
.big { font-size: 24px; font-weight: 650; margin: 0; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
.charts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; }
figure { margin: 0; }
figcaption { font-size: 13px; font-weight: 600; margin-bottom: 6px; }
.chart svg { width: 100%; height: 110px; display: block; }
.chart .line { fill: none; stroke: var(--bar); stroke-width: 1.5; }
.chart .area { fill: var(--bar-light); opacity: .6; }
.chart .axis { stroke: var(--line); }
.chart text { font-size: 10px; fill: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .3px; }
tbody tr:last-child td, tbody tr:last-child th { border-bottom: none; }
tbody th { text-transform: none; letter-spacing: 0; font-size: inherit; color: var(--fg); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.wide { min-width: 200px; }
.state { font-weight: 600; }
.state-alive, .state-leader, .state-follower { color: var(--ok); }
.state-dead, .state-unreachable { color: var(--bad); }
.state-draining, .state-learner { color: var(--warn); }
tr.dead td { background: #fff3f2; }
.meter { height: 10px; background: #e7ebf0; border-radius: 5px; overflow: hidden; min-width: 80px; }
.meter > span { display: block; height: 100%; background: var(--bar); }
.meter.light > span { background: var(--bar-light); }
.meter.full > span { background: var(--bad); }
.used { display: grid; gap: 3px; }
.share { display: grid; grid-template-columns: 56px 1fr 110px; gap: 8px; align-items: center; margin: 6px 0; }
.share .bars { display: grid; gap: 3px; }
progress { width: 100%; height: 14px; }
button, .button, select, input[type=text], input[type=password] {
  font: inherit; border: 1px solid #aab4c2; border-radius: 6px; padding: 6px 12px; background: #fff; color: var(--fg);
}
input[type=text], input[type=password] { width: 100%; }
button, .button { cursor: pointer; display: inline-block; }
button:hover, .button:hover { background: #eef2f7; }
button[type=submit], #dialog-ok { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { color: var(--bad); border-color: #e0a9a5; }
button:disabled { opacity: .5; cursor: default; }
.toolbar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 10px; }
.toolbar label[for=page-size] { margin-left: auto; font-size: 13px; color: var(--muted); }
.input-focus { outline: 3px solid #f0a500; }
.drop-zone { border: 2px dashed #aab4c2; border-radius: 8px; padding: 14px; text-align: center; color: var(--muted); margin-bottom: 10px; }
.drop-zone.over { border-color: var(--accent); background: #eaf1fc; color: var(--fg); }
.uploads { list-style: none; padding: 0; margin: 0 0 10px; display: grid; gap: 6px; }
.uploads li { display: grid; grid-template-columns: minmax(120px, 1fr) 2fr auto; gap: 10px; align-items: center; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.crumbs { display: flex; flex-wrap: wrap; gap: 2px; align-items: center; }
.crumbs a { padding: 2px 4px; }
.link { background: none; border: none; padding: 0; color: var(--accent); text-decoration: underline; cursor: pointer; text-align: left; }
.link:hover { background: none; }
.actions { display: flex; gap: 6px; flex-wrap: wrap; }
td .actions button { padding: 3px 8px; font-size: 13px; }
.pager { display: flex; gap: 10px; align-items: center; justify-content: center; margin: 10px 0; }
#details { margin-top: 16px; }
#details h3 { text-transform: none; font-size: 18px; color: var(--fg); letter-spacing: 0; margin: 0 auto 0 0; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 8px 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
dialog { border: 1px solid var(--line); border-radius: 10px; padding: 18px; width: min(480px, 92vw); }
dialog::backdrop { background: rgba(15, 20, 30, .45); }
dialog form { display: grid; gap: 10px; }
dialog .actions { justify-content: flex-end; }
code { background: #e9edf2; padding: 0 4px; border-radius: 4px; }
@media (max-width: 900px) {
  .two, .charts { grid-template-columns: 1fr; }
}
@media (max-width: 600px) {
  main { padding: 12px 10px 30px; }
  .top { padding: 8px 10px; gap: 8px; }
  th, td { padding: 6px 6px; }
  .hide-narrow { display: none; }
  .uploads li { grid-template-columns: 1fr; }
  .share { grid-template-columns: 44px 1fr 92px; }
}
`;
